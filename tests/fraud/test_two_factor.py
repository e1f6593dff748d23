"""Two-factor for staff (issue 20, item 5; ADMIN_REQUIRE_2FA): no admin page without a second factor."""

import re

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from authentication import two_factor
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.two_factor]

SETUP = "/accounts/two-factor/setup/"
VERIFY = "/accounts/two-factor/verify/"


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    """A staff account with a confirmed authenticator and recovery codes (as after enrolment)."""
    device = two_factor.pending_device(user)
    device.confirmed = True
    device.save()
    return device, two_factor.new_recovery_codes(user=user)


def otp_login(client, user, device) -> None:
    """Test helper: a staff session that passed its second factor (for tests about the admin)."""
    client.force_login(user)
    client.post(VERIFY, {"code": code_for(device)})


@pytest.fixture
def staff(make_user):
    return make_user(email="ops@example.com", is_staff=True, is_superuser=True)


def admin_urls() -> list[str]:
    """Every admin changelist and add page, the index and the app indexes."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse("admin:app_list", args=[meta.app_label]))
        for action in ("changelist", "add"):
            try:
                urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_{action}"))
            except NoReverseMatch:
                pass
    return sorted(set(urls))


def test_staff_without_a_second_factor_cannot_open_any_admin_page(client, staff):
    client.force_login(staff)
    urls = admin_urls()
    assert len(urls) > 10
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 302, url
        assert resp["Location"].startswith(SETUP + "?next="), url
    # Enrolled but not verified in this session: the code prompt, for every page.
    enrolled(staff)
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith(VERIFY + "?next="), url
    # POSTs too (an admin action with a password alone).
    resp = client.post(reverse("admin:authentication_user_changelist"), {"action": "delete_selected"})
    assert resp.status_code == 302 and resp["Location"].startswith(VERIFY)


def test_the_admin_log_in_leads_to_enrolment_then_the_admin(client, staff):
    resp = client.post(reverse("admin:login") + "?next=/admin/", {"username": staff.email, "password": PASSWORD},
                       follow=True)
    assert resp.redirect_chain[-1][0].startswith(SETUP)
    page = resp.content.decode()
    assert "<svg " in page and "<path" in page and "svg:svg" not in page  # drawn inline by the browser
    assert "Set up two-factor authentication" in page
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert two_factor.secret_text(device).replace(" ", "") in page.replace(" ", "")
    # Reloading shows the same secret (the app already holds it).
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    done = client.post(SETUP, {"code": code_for(device), "next": "/admin/"})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10 and "shown only this once" in done.content.decode()
    assert client.get("/admin/").status_code == 200
    # The codes are never shown again.
    assert client.get(SETUP).status_code == 302


def test_each_log_in_asks_for_a_code_and_a_wrong_code_is_refused(client, staff):
    device, _ = enrolled(staff)
    client.force_login(staff)
    wrong = client.post(VERIFY, {"code": "000000" if code_for(device) != "000000" else "111111", "next": "/admin/"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302
    right = client.post(VERIFY, {"code": code_for(device), "next": "/admin/"})
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # A new log-in (new session) asks again.
    client.logout()
    client.force_login(staff)
    assert client.get("/admin/")["Location"].startswith(VERIFY)


def test_a_recovery_code_works_once(client, staff):
    _, codes = enrolled(staff)
    client.force_login(staff)
    resp = client.post(VERIFY, {"code": codes[0].upper(), "next": "/admin/"}, follow=True)
    assert resp.status_code == 200 and "You used a recovery code; 9 left." in resp.content.decode()
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    client.logout()
    client.force_login(staff)
    again = client.post(VERIFY, {"code": codes[0], "next": "/admin/"})
    assert again.status_code == 200 and "That code is not right" in again.content.decode()
    assert client.get("/admin/").status_code == 302


def test_wrong_codes_lock_the_prompt_even_for_a_right_code(client, staff, settings):
    from netcop_hub.config import Rate

    settings.ADMIN_2FA_RATE_LIMIT = Rate(5, 900)
    device, codes = enrolled(staff)
    client.force_login(staff)
    bad = "000000" if code_for(device) != "000000" else "111111"
    for _ in range(5):
        assert client.post(VERIFY, {"code": bad}).status_code == 200
    locked = client.post(VERIFY, {"code": code_for(device)})
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= 900
    assert "Too many wrong codes" in locked.content.decode()
    assert client.post(VERIFY, {"code": codes[0]}).status_code == 429
    assert client.get("/admin/").status_code == 302
    assert StaticToken.objects.filter(token=codes[0]).exists()  # a locked prompt consumes nothing


def test_a_code_is_accepted_once(client, staff):
    device, _ = enrolled(staff)
    code = code_for(device)
    client.force_login(staff)
    assert client.post(VERIFY, {"code": code})["Location"] == "/admin/"
    client.logout()
    client.force_login(staff)
    assert client.post(VERIFY, {"code": code}).status_code == 200  # replayed: refused


def test_next_never_leaves_the_site(client, staff):
    device, _ = enrolled(staff)
    client.force_login(staff)
    resp = client.post(VERIFY, {"code": code_for(device), "next": "https://evil.example/admin/"})
    assert resp["Location"] == "/admin/"


def test_customers_have_no_two_factor_pages(client, make_user):
    client.force_login(make_user())
    assert client.get(SETUP)["Location"] == "/wallet/"
    assert client.get(VERIFY)["Location"] == "/wallet/"


def test_the_helper_logs_staff_in_with_a_device(client, staff):
    device, _ = enrolled(staff)
    otp_login(client, staff, device)
    assert client.get(reverse("admin:authentication_user_changelist")).status_code == 200


def test_the_requirement_can_be_switched_off(client, staff, settings):
    settings.ADMIN_REQUIRE_2FA = False
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_one_recovery_code_used_twice_at_once_lets_in_once(make_user):
    """Two log-ins racing with the same recovery code: the one DELETE that finds it wins."""
    from tests.concurrency import run_concurrently

    staff = make_user(is_staff=True)
    _, codes = enrolled(staff)
    results = run_concurrently(lambda i: two_factor.check_code(user=staff, code=codes[0]), 4)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r is not None for r in results) == 1
    assert two_factor.recovery_codes_left(staff) == 9
