"""Review of issue 20 in Chromium: the first-day cap's auto-recharge notice on the settings page and
the admin hold page (its hidden action) read well at 1280 and 375 px, without sideways scrolling."""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e

NOTICE = ("The automatic top-up was reduced to 100.00 AED to stay within the 500.00 AED a new account "
          "may add in its first day.")


def shoot(page, name):
    shots = os.environ.get("SCREENSHOT_DIR")
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        if shots:  # for a person to look at
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}-{width}.png", full_page=True)


def test_the_first_day_notice_and_the_hold_page(live_server, make_user, login, expect):
    from wallet.models import BillingSettings

    person = make_user(email="first-day-e2e@example.com", new_account=True)
    BillingSettings.objects.create(
        user=person, auto_recharge_enabled=True, auto_recharge_threshold=Decimal("50"),
        auto_recharge_amount=Decimal("300"), auto_recharge_payment_method="pm_card_visa",
        stripe_customer_id="cus_x", auto_recharge_notice=NOTICE,
    )
    page = login(person)
    page.goto(f"{live_server.url}/wallet/settings/")
    expect(page.locator("body")).to_contain_text("a new account may add in its first day")
    shoot(page, "settings-first-day-notice")

    staff = make_user(email="ops-e2e@example.com", is_staff=True, is_superuser=True)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/authentication/user/{person.pk}/hold/")
    page.get_by_label("Reason").fill("We are checking a payment with your bank.")
    shoot(page, "admin-hold-page")
    page.get_by_role("button", name="Put the account on hold").click()
    expect(page.locator("body")).to_contain_text("was put on hold")
    person.refresh_from_db()
    assert person.is_on_hold
