"""The wallet page in a real browser, as a demanding customer would use it (issue 12).

Served by Django's live server against the session's localstripe; failures leave a screenshot in
test-artifacts/ (tests/e2e/conftest.py).
"""

import json
import re

import pytest

from wallet.models import TopUp

pytestmark = pytest.mark.e2e

ADD = "Add to wallet"


@pytest.fixture
def expect():
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def open_wallet(live_server, stripe_sandbox, make_user, login):
    """open_wallet(query="") logs a new user in and opens /wallet/<query> with the card mounted."""

    def do_open(query="", user=None):
        user = user or make_user()
        page = login(user)
        page.goto(f"{live_server.url}/wallet/{query}")
        page.locator("#card-element").get_by_placeholder("number", exact=True).wait_for()
        page.user = user
        return page

    return do_open


def fill_card(page, number):
    element = page.locator("#card-element")
    element.get_by_placeholder("number", exact=True).fill(number)
    element.get_by_placeholder("exp_month", exact=True).fill("12")
    element.get_by_placeholder("exp_year", exact=True).fill("34")
    element.get_by_placeholder("cvc", exact=True).fill("123")
    element.get_by_placeholder("postal_code", exact=True).fill("12345")


# --- 8. a 429 counts down live; the button waits with it ------------------------------------------


def test_too_many_attempts_counts_down_and_keeps_the_button_disabled(open_wallet, settings, expect):
    settings.TOPUP_RATE_LIMIT = "1/10m"
    page = open_wallet()
    status = page.locator("#topup-status")
    button = page.get_by_role("button", name=ADD)
    page.get_by_label("Amount in AED").fill("20")
    fill_card(page, "4000000000000341")
    button.click()
    expect(status).to_have_text("Your card was declined.")
    button.click()  # the server's own 429 (this user's budget is spent)
    expect(status).to_have_text(re.compile(r"^Too many attempts\. Try again in \d+ min \d+ s\.$"))
    expect(button).to_be_disabled()
    first = status.text_content()
    expect(status).not_to_have_text(first, timeout=3000)  # it ticks
    expect(button).to_be_disabled()

    # A short wait (answered by the route) ends: the button comes back and the message says so.
    page.reload()
    page.locator("#card-element").get_by_placeholder("number", exact=True).wait_for()
    page.route(
        "**/wallet/create-payment-intent/",
        lambda route: route.fulfill(
            status=429, headers={"Retry-After": "2"}, content_type="application/json",
            body=json.dumps({"error": "Too many attempts. Try again in 2 s.", "retry_after": 2}),
        ),
    )
    page.get_by_label("Amount in AED").fill("20")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(status).to_have_text("Too many attempts. Try again in 2 s.")
    expect(page.get_by_role("button", name=ADD)).to_be_disabled()
    expect(status).to_have_text("Too many attempts. Try again in 1 s.")
    expect(status).to_have_text("You can try again now.", timeout=4000)
    expect(page.get_by_role("button", name=ADD)).to_be_enabled()
    assert TopUp.objects.filter(user=page.user).count() == 1
