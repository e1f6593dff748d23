"""Sign up and see a zero balance, in a real browser."""

import re

import pytest

pytestmark = pytest.mark.e2e


def test_signup_then_nav_shows_zero_balance(live_server, page):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("browser@example.com")
    page.get_by_label("Display name").fill("Browser")
    page.get_by_label("Password", exact=True).fill("a-Long-pass-42")
    page.get_by_label("Confirm password").fill("a-Long-pass-42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/wallet/$"))
    assert page.locator("[data-wallet-balance]").inner_text() == "0.00 AED"


def test_login_page_at_phone_width_fits(live_server, browser, make_user):
    user = make_user(email="narrow@example.com")
    context = browser.new_context(viewport={"width": 375, "height": 740})
    pg = context.new_page()
    pg.goto(f"{live_server.url}/accounts/login/")
    pg.get_by_label("Email").fill(user.email)
    pg.get_by_label("Password").fill("Sup3r-secret-pass")
    pg.keyboard.press("Enter")
    pg.wait_for_url(re.compile(r".*/wallet/$"))
    # Nothing wider than the viewport: no horizontal scrolling on a phone.
    assert pg.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
