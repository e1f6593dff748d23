"""Top up by card in a real browser: the wallet page, localstripe's Stripe.js and our sandbox shim.

The page is served by Django's live server and talks to the session's localstripe (stripe_sandbox).
A screenshot of every failure lands in test-artifacts/ (see tests/e2e/conftest.py).
"""

import re
from decimal import Decimal

import pytest

from wallet.models import TopUp, WalletTransaction

pytestmark = pytest.mark.e2e

ADD = "Add to wallet"


def fill_card(page, number):
    element = page.locator("#card-element")
    element.get_by_label("Card number").fill(number)
    element.get_by_label("Expiry month").fill("12")
    element.get_by_label("Expiry year").fill("34")
    element.get_by_label("Security code (CVC)").fill("123")
    element.get_by_label("Postcode").fill("12345")


def record_requests(page, fragment):
    seen = []
    page.on("request", lambda request: seen.append(request.url) if fragment in request.url else None)
    return seen


def test_visa_tops_up_and_nav_balance_updates_in_place(wallet_page, expect):
    page = wallet_page
    creates = record_requests(page, "/wallet/create-payment-intent/")
    page.get_by_role("button", name="100.00 AED").click()
    expect(page.get_by_label("Amount in AED")).to_have_value("100.00")
    expect(page.get_by_role("button", name="100.00 AED")).to_have_attribute("aria-pressed", "true")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("100.00 AED was added to your wallet.")
    expect(page.locator("#topup-status")).to_have_class(re.compile(r"alert-success"))
    expect(page.locator("[data-wallet-balance]")).to_have_text("100.00 AED")
    expect(page.locator("[data-wallet-balance]")).to_have_attribute("data-wallet-balance", "100.00")
    expect(page.locator("[data-topup-balance]")).to_have_text("100.00 AED")
    # The form steps aside (no second payment by accident); "Add another top-up" brings it back.
    expect(page.get_by_role("button", name=ADD)).to_be_hidden()
    expect(page.get_by_role("button", name="Add another top-up")).to_be_focused()
    # The recent top-ups list shows the payment without a reload.
    expect(page.locator(".topup-recent [data-topup-id]")).to_have_count(1)
    expect(page.locator(".topup-recent [data-topup-id]")).to_contain_text("100.00 AED")
    expect(page.locator(".topup-recent [data-topup-id]")).to_contain_text("Succeeded")
    assert len(creates) == 1
    page.user.refresh_from_db()
    assert page.user.wallet_balance == Decimal("100.00")
    assert WalletTransaction.objects.filter(user=page.user).count() == 1


def test_three_d_secure_completed_is_credited(wallet_page, expect):
    page = wallet_page
    page.get_by_label("Amount in AED").fill("25.50")
    fill_card(page, "4000002500003155")
    page.get_by_role("button", name=ADD).click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.locator("#topup-status")).to_have_text("25.50 AED was added to your wallet.")
    expect(page.locator("[data-wallet-balance]")).to_have_text("25.50 AED")
    topup = TopUp.objects.get(user=page.user)
    assert topup.status == TopUp.Status.SUCCEEDED
    assert WalletTransaction.objects.filter(user=page.user).count() == 1


def test_three_d_secure_failed_shows_error_and_credits_nothing(wallet_page, expect):
    page = wallet_page
    page.get_by_label("Amount in AED").fill("30")
    fill_card(page, "4000002500003155")
    page.get_by_role("button", name=ADD).click()
    page.get_by_role("button", name="Fail authentication").click()
    status = page.locator("#topup-status")
    expect(status).to_have_class(re.compile(r"alert-error"))
    expect(status).to_contain_text("authentication failed")
    expect(page.locator("[data-wallet-balance]")).to_have_text("0.00 AED")
    expect(page.get_by_role("button", name=ADD)).to_be_enabled()
    assert TopUp.objects.get(user=page.user).status == TopUp.Status.FAILED
    page.user.refresh_from_db()
    assert page.user.wallet_balance == 0 and not WalletTransaction.objects.exists()


def test_arabic_indic_digits_are_sent_as_ascii_and_credited(wallet_page, expect):
    page = wallet_page
    sent = []
    page.on(
        "request",
        lambda request: sent.append(request.post_data_json["amount"]) if "create-payment-intent" in request.url else None,
    )
    page.get_by_label("Amount in AED").fill("١٠٠")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("100.00 AED was added to your wallet.")
    assert sent == ["100.00"]
    assert TopUp.objects.get(user=page.user).amount == Decimal("100.00")


def test_declined_card_shows_clear_error(wallet_page, expect):
    page = wallet_page
    page.get_by_role("button", name="50.00 AED").click()
    fill_card(page, "4000000000000341")
    page.get_by_role("button", name=ADD).click()
    status = page.locator("#topup-status")
    expect(status).to_have_text("Your card was declined. Nothing was charged.")
    expect(status).to_have_class(re.compile(r"alert-error"))
    expect(page.locator("[data-wallet-balance]")).to_have_text("0.00 AED")
    row = page.locator(".topup-recent [data-topup-id]")
    expect(row.locator(".badge")).to_have_text("Failed")
    expect(row.locator(".topup-reason")).to_have_text("Your card was declined. Nothing was charged.")
    assert not WalletTransaction.objects.exists()
    # After a final outcome the next attempt is a new top-up (a fresh idempotency key).
    page.get_by_label("Amount in AED").fill("50")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(status).to_have_text("50.00 AED was added to your wallet.")
    assert TopUp.objects.filter(user=page.user).count() == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1.234", "Enter an amount like 100 or 100.50."),
        ("0", "between 2.00 AED and 10,000.00 AED"),
        ("20000", "between 2.00 AED and 10,000.00 AED"),
        ("abc", "Enter an amount like 100 or 100.50."),
        # The server's rule and message: no exponents, signs, underscores or embedded spaces.
        ("1e3", "Enter an amount like 100 or 100.50."),
        ("-5", "Enter an amount like 100 or 100.50."),
        ("1_000", "Enter an amount like 100 or 100.50."),
        ("1 00", "Enter an amount like 100 or 100.50."),
        ("", "Enter an amount"),
    ],
)
def test_invalid_amount_is_refused_without_a_network_call(wallet_page, expect, amount, message):
    page = wallet_page
    calls = record_requests(page, "/wallet/")
    stripe_calls = record_requests(page, "/v1/")
    page.get_by_label("Amount in AED").fill(amount)
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    error = page.locator("#topup-amount-error")
    expect(error).to_contain_text(message)
    expect(page.get_by_label("Amount in AED")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Amount in AED")).to_be_focused()
    page.wait_for_timeout(300)
    assert calls == [] and stripe_calls == []
    assert not TopUp.objects.exists()


def test_amount_query_prefills_and_page_fits_a_phone(live_server, stripe_sandbox, make_user, browser, expect):
    user = make_user(email="phone@example.com")
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill("Sup3r-secret-pass")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/wallet/$"))
        page.goto(f"{live_server.url}/wallet/?amount=200")
        expect(page.get_by_label("Amount in AED")).to_have_value("200.00")
        expect(page.get_by_role("button", name="200.00 AED")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("heading", name=re.compile("Sandbox mode"))).to_be_visible()
        page.locator("#card-element").get_by_label("Card number").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # Keyboard: focus a preset and press Space.
        page.get_by_role("button", name="50.00 AED").focus()
        page.keyboard.press("Space")
        expect(page.get_by_label("Amount in AED")).to_have_value("50.00")
    finally:
        context.close()


def test_retry_after_stripe_unreachable_reuses_the_attempt_key(wallet_page, expect):
    """A 503 leaves the payment's fate unknown: the retry must replay the same attempt."""
    import json

    page = wallet_page
    keys = []

    def intercept(route, request):
        keys.append(json.loads(request.post_data)["idempotency_key"])
        if len(keys) == 1:  # the first answer is lost to an outage
            route.fulfill(status=503, content_type="application/json",
                          body=json.dumps({"error": "We couldn't reach the payment service. Please try again."}))
        else:
            route.continue_()

    page.route("**/wallet/create-payment-intent/", intercept)
    page.get_by_label("Amount in AED").fill("40.00")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_contain_text("couldn't reach the payment service")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("40.00 AED was added to your wallet.")
    assert len(keys) == 2 and keys[0] == keys[1]
    assert TopUp.objects.filter(user=page.user).count() == 1
