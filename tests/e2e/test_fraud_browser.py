"""Issue 20 in a real browser: an unconfirmed account sees why it cannot top up and confirms through the
emailed link; a staff member enrols an authenticator on the first admin log-in, then enters codes."""

import re

import pytest
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.two_factor]


def test_unconfirmed_account_confirms_through_the_link_then_sees_the_card_form(
    live_server, page, make_user, login, stripe_sandbox, settings, expect
):
    settings.SITE_URL = live_server.url
    person = make_user(verified=False)
    login(person)
    expect(page.get_by_text("Confirm your email address to top up.")).to_be_visible()
    assert page.locator("#topup-form").count() == 0
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text(f"We sent a new confirmation link to {person.email}")).to_be_visible()
    link = re.search(r"http://\S+/accounts/verify-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", name="Email confirmed")).to_be_visible()
    page.get_by_role("link", name="Go to your wallet").click()
    expect(page.locator("#topup-form")).to_be_visible()


def test_staff_enrols_on_the_first_admin_log_in_and_enters_a_code_on_the_next(live_server, page, make_user,
                                                                              expect):
    staff = make_user(email="ops@example.com", is_staff=True, is_superuser=True)

    def admin_login():
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("input[name=username]", staff.email)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")

    admin_login()
    page.wait_for_url(re.compile(r".*/accounts/two-factor/setup/.*"))
    expect(page.locator(".two-factor-qr svg path")).to_have_count(1)
    device = TOTPDevice.objects.get(user=staff)

    def code(offset=0):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time += offset * device.step
        return f"{totp.token():06d}"

    page.get_by_label("Code", exact=True).fill(code())
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_text("they are shown only this once")).to_be_visible()
    assert page.locator(".two-factor-codes li").count() == 10
    page.get_by_role("link", name="I saved them, continue").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.context.clear_cookies()
    admin_login()
    page.wait_for_url(re.compile(r".*/accounts/two-factor/verify/.*"))
    page.get_by_label("Code", exact=True).fill("000000" if code(1) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right").first).to_be_visible()
    page.get_by_label("Code", exact=True).fill(code(1))  # the next step's code: the first one was used
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
