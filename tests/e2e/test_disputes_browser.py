"""Issue 20 in Chromium: card 0259 pays, its dispute arrives as a signed webhook at the live server
(the sandbox's delivery task), and the customer sees the hold banner, the dispute in the history and
the top-up form and the run button replaced by why and what to do, at 1280 and 375 px."""


import pytest

from tests.helpers import WEBHOOK_SECRET

pytestmark = pytest.mark.e2e


def pay(page, number: str, amount: str = "40.00"):
    page.get_by_label("Amount in AED").fill(amount)
    element = page.locator("#card-element")
    element.get_by_label("Card number").press_sequentially(number)
    element.get_by_label("Expiry month").fill("12")
    element.get_by_label("Expiry year").fill("34")
    element.get_by_label("Security code (CVC)").fill("123")
    element.get_by_label("Postcode").fill("12345")
    page.get_by_role("button", name="Add to wallet").click()


def test_a_disputed_payment_holds_the_account_and_says_so(wallet_page, live_server, settings, expect, make_agent):
    make_agent(slug="phishing-url-checker")
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.SITE_URL = live_server.url  # the sandbox's delivery task posts the event here
    page = wallet_page
    pay(page, "4000000000000259")
    expect(page.locator("#topup-status")).to_contain_text("40.00 AED")
    page.goto(f"{live_server.url}/wallet/history/")
    banner = page.locator("#hold-banner")
    expect(banner).to_contain_text("Your account is on hold")
    expect(banner).to_contain_text("disputed with your bank")
    expect(banner).to_contain_text("Reply to any of our emails")
    expect(page.get_by_role("table").get_by_text("Card payment disputed").first).to_be_visible()

    # The wallet page says so before any card is typed: a panel instead of the top-up form (the
    # server's refusal is tested in tests/disputes/test_standing_pages.py).
    page.goto(f"{live_server.url}/wallet/")
    panel = page.locator("#standing-panel")
    expect(panel).to_contain_text("Top-ups are paused")
    expect(panel).to_contain_text("What to do")
    assert page.locator("#topup-form").count() == 0

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/agents/")
    expect(page.locator("#hold-banner")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width})"
    page.goto(f"{live_server.url}/agents/phishing-url-checker/")
    expect(page.locator("#standing-panel")).to_contain_text("Agent runs are paused")
    expect(page.get_by_role("textbox")).to_be_disabled()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the agent page scrolls sideways at 375 px ({width})"
