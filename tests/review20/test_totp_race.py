"""Review of issue 20: one authenticator code lets in one log-in, also when two arrive at once.
django-otp's verify_token reads the device, checks the code against its last used step, then saves:
two requests with the same code that both read the device before either saved both passed (a code
phished in real time worked next to its owner's). The step is now claimed by one conditional UPDATE."""

import threading

import pytest
from django_otp import oath
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from authentication import two_factor
from tests.concurrency import run_concurrently

pytestmark = pytest.mark.two_factor


def code_for(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.mark.django_db(transaction=True)
def test_one_totp_code_sent_twice_at_once_lets_in_once(make_user, monkeypatch):
    staff = make_user(is_staff=True)
    device = two_factor.pending_device(staff)
    device.confirmed = True
    device.save()
    code = code_for(device)
    # Both requests have checked the code before either records it: the race, every time.
    both_checked = threading.Barrier(2)
    real_verify = oath.TOTP.verify

    def verify_then_wait(self, *args, **kwargs):
        result = real_verify(self, *args, **kwargs)
        try:  # where the check is serialised the other request cannot get here: go on alone
            both_checked.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return result

    monkeypatch.setattr(oath.TOTP, "verify", verify_then_wait)
    results = run_concurrently(lambda i: two_factor.check_code(user=staff, code=code), 2)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r is not None for r in results) == 1
    monkeypatch.setattr(oath.TOTP, "verify", real_verify)
    assert two_factor.check_code(user=staff, code=code) is None  # and never again


@pytest.mark.django_db
def test_a_right_code_still_works_and_a_wrong_one_does_not(make_user):
    staff = make_user(is_staff=True)
    device = two_factor.pending_device(staff)
    device.confirmed = True
    device.save()
    assert two_factor.check_code(user=staff, code="000000" if code_for(device) != "000000" else "111111") is None
    proved = two_factor.check_code(user=staff, code=code_for(device))
    assert proved is not None and proved[0].pk == device.pk and proved[1] is False
    device.refresh_from_db()
    assert device.last_t > -1 and device.last_used_at is not None
