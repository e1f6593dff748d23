"""The sandbox card element takes the test card as the page prints it and answers like Stripe's Element.

localstripe's fake element only accepts 16 digits without spaces and answers anything else with a bare
"Bad request"; static/js/stripe-sandbox.js cleans and checks the card first, with Stripe's wording.
"""

import datetime
import re
from decimal import Decimal

import pytest

from wallet.models import TopUp

pytestmark = pytest.mark.e2e

ADD = "Add to wallet"


def type_card(page, number, month="12", year="34", cvc="123"):
    """Types the card key by key, as a person would (each key is its own input event)."""
    element = page.locator("#card-element")
    element.get_by_label("Card number").press_sequentially(number)
    element.get_by_label("Expiry month").fill(month)
    element.get_by_label("Expiry year").fill(year)
    element.get_by_label("Security code (CVC)").fill(cvc)
    element.get_by_label("Postcode").fill("12345")


def assert_no_bad_request(page):
    assert "bad request" not in page.locator("body").inner_text().lower()


def test_card_number_with_spaces_as_printed_pays(wallet_page, expect):
    page = wallet_page
    # The banner prints the card with spaces; that is what people type.
    expect(page.locator(".topup-test-cards")).to_contain_text("4242 4242 4242 4242")
    page.get_by_label("Amount in AED").fill("20.00")
    type_card(page, "4242 4242 4242 4242")
    expect(page.locator("#card-element").get_by_label("Card number")).to_have_value("4242 4242 4242 4242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("20.00 AED was added to your wallet.")
    expect(page.locator("#card-errors")).to_have_text("")
    assert_no_bad_request(page)
    page.user.refresh_from_db()
    assert page.user.wallet_balance == Decimal("20.00")


def test_card_number_with_dashes_is_grouped_and_pays(wallet_page, expect):
    page = wallet_page
    page.get_by_label("Amount in AED").fill("5.00")
    element = page.locator("#card-element")
    element.get_by_label("Card number").fill("4242-4242-4242-4242")
    expect(element.get_by_label("Card number")).to_have_value("4242 4242 4242 4242")
    element.get_by_label("Expiry month").fill("12")
    element.get_by_label("Expiry year").fill("34")
    element.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("5.00 AED was added to your wallet.")


def test_wrong_check_digit_says_card_number_is_invalid(wallet_page, expect):
    page = wallet_page
    creates = []
    page.on("request", lambda r: creates.append(r.url) if "create-payment-intent" in r.url else None)
    page.get_by_label("Amount in AED").fill("20.00")
    type_card(page, "4242 4242 4242 4241")
    # Like Stripe's Element, the mistake shows as soon as the number is complete...
    expect(page.locator("#card-errors")).to_have_text("Your card number is invalid.")
    number = page.locator("#card-element").get_by_label("Card number")
    expect(number).to_have_attribute("aria-invalid", "true")
    # ...and paying anyway is refused before anything reaches our server.
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#card-errors")).to_have_text("Your card number is invalid.")
    expect(page.get_by_role("button", name=ADD)).to_be_enabled()
    assert_no_bad_request(page)
    assert creates == []
    assert not TopUp.objects.filter(user=page.user).exists()
    # Fixing the last digit clears the error.
    number.click()
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.press("2")
    expect(number).to_have_value("4242 4242 4242 4242")
    expect(page.locator("#card-errors")).to_have_text("")
    expect(number).not_to_have_attribute("aria-invalid", "true")


def test_expired_card_says_expiration_date_is_in_the_past(wallet_page, expect):
    page = wallet_page
    page.get_by_label("Amount in AED").fill("20.00")
    last_year = f"{(datetime.date.today().year - 1) % 100:02d}"
    type_card(page, "4242 4242 4242 4242", month="01", year=last_year)
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#card-errors")).to_have_text("Your card's expiration date is in the past.")
    expect(page.locator("#card-element").get_by_label("Expiry year")).to_have_attribute("aria-invalid", "true")
    assert_no_bad_request(page)
    assert not TopUp.objects.filter(user=page.user).exists()


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "message"),
    [
        ("4242 4242 4242", "12", "34", "123", "Your card number is incomplete."),
        ("4242 4242 4242 4242", "", "", "123", "Your card's expiration date is incomplete."),
        ("4242 4242 4242 4242", "13", "34", "123", "Your card's expiration month is invalid."),
        ("4242 4242 4242 4242", "12", "34", "1", "Your card's security code is incomplete."),
    ],
)
def test_incomplete_or_wrong_details_use_stripes_wording(wallet_page, expect, number, month, year, cvc, message):
    page = wallet_page
    page.get_by_label("Amount in AED").fill("20.00")
    type_card(page, number, month=month, year=year, cvc=cvc)
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#card-errors")).to_have_text(message)
    assert_no_bad_request(page)


def test_card_fields_are_labelled_and_fit_a_phone(browser, live_server, stripe_sandbox, make_user, expect):
    user = make_user(email="phone-card@example.com")
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill("Sup3r-secret-pass")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/$"))
        element = page.locator("#card-element")
        for name in ("Card number", "Expiry month", "Expiry year", "Security code (CVC)", "Postcode"):
            expect(element.get_by_label(name)).to_be_visible()
        expect(element.get_by_text("localstripe")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
