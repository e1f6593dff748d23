"""The wallet page in a real browser, as a demanding customer would use it (issue 12).

Served by Django's live server against the session's localstripe; failures leave a screenshot in
test-artifacts/ (tests/e2e/conftest.py).
"""

import json
import re
import time
from types import SimpleNamespace

import pytest

from netcop_hub import ratelimit
from netcop_hub.config import parse_rate
from wallet.models import TopUp

pytestmark = pytest.mark.e2e

ADD = "Add to wallet"


@pytest.fixture
def open_wallet(live_server, stripe_sandbox, make_user, login):
    """open_wallet(query="") logs a new user in and opens /wallet/<query> with the card mounted."""

    def do_open(query="", user=None):
        user = user or make_user()
        page = login(user)
        page.goto(f"{live_server.url}/wallet/{query}")
        page.locator("#card-element").get_by_label("Card number").wait_for()
        page.user = user
        return page

    return do_open


def fill_card(page, number):
    element = page.locator("#card-element")
    element.get_by_label("Card number").fill(number)
    element.get_by_label("Expiry month").fill("12")
    element.get_by_label("Expiry year").fill("34")
    element.get_by_label("Security code (CVC)").fill("123")
    element.get_by_label("Postcode").fill("12345")


# --- 8. a 429 counts down live; the button waits with it ------------------------------------------


def test_too_many_attempts_counts_down_and_keeps_the_button_disabled(open_wallet, settings, expect, monkeypatch):
    settings.TOPUP_RATE_LIMIT = parse_rate("1/10m")
    # Rate-limit windows are fixed (aligned to the clock): start this test 5 s into one, so the wait
    # is minutes long whatever the time of day (a window ending mid-test made this flaky).
    real_time = time.time
    shift = real_time() % 600 - 5
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: real_time() - shift))
    page = open_wallet()
    status = page.locator("#topup-status")
    button = page.get_by_role("button", name=ADD)
    page.get_by_label("Amount in AED").fill("20")
    fill_card(page, "4000000000000341")
    button.click()
    expect(status).to_have_text("Your card was declined. Nothing was charged.")
    button.click()  # the server's own 429 (this user's budget is spent)
    expect(status).to_have_text(re.compile(r"^Too many attempts\. Try again in \d+ min \d+ s\.$"))
    expect(button).to_be_disabled()
    first = status.text_content()
    expect(status).not_to_have_text(first, timeout=3000)  # it ticks
    expect(button).to_be_disabled()

    # A short wait (answered by the route) ends: the button comes back and the message says so.
    page.reload()
    page.locator("#card-element").get_by_label("Card number").wait_for()
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


# --- 12. the wallet page itself --------------------------------------------------------------------


def test_after_a_success_the_form_steps_aside_so_a_second_click_cannot_pay(open_wallet, expect):
    page = open_wallet()
    creates = []
    page.on("request", lambda r: creates.append(r.url) if "create-payment-intent" in r.url else None)
    page.get_by_role("button", name="50.00 AED").click()
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("50.00 AED was added to your wallet.")
    expect(page.get_by_role("button", name=ADD)).to_be_hidden()
    again = page.get_by_role("button", name="Add another top-up")
    expect(again).to_be_focused()
    page.keyboard.press("Enter")  # a second press lands on "Add another top-up", never on a payment
    expect(page.get_by_label("Amount in AED")).to_have_value("")
    expect(page.get_by_label("Amount in AED")).to_be_focused()
    expect(page.get_by_role("button", name="50.00 AED")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#card-element").get_by_label("Card number")).to_have_value("")
    expect(page.locator("#topup-status")).to_be_hidden()
    assert len(creates) == 1 and TopUp.objects.filter(user=page.user).count() == 1


def test_an_empty_card_moves_focus_to_the_card(open_wallet, expect):
    page = open_wallet()
    page.get_by_label("Amount in AED").fill("20")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#card-errors")).not_to_be_empty()
    expect(page.locator("#card-element").get_by_label("Card number")).to_be_focused()


def test_a_failed_payment_shows_a_short_badge_with_its_reason_under_it(open_wallet, expect):
    page = open_wallet()
    page.get_by_label("Amount in AED").fill("30")
    fill_card(page, "4000000000000341")
    page.get_by_role("button", name=ADD).click()
    row = page.locator(".topup-recent [data-topup-id]")
    expect(row.locator(".badge")).to_have_text("Failed")
    expect(row.locator(".topup-reason")).to_have_text("Your card was declined. Nothing was charged.")
    badge, reason = row.locator(".badge").bounding_box(), row.locator(".topup-reason").bounding_box()
    assert reason["y"] >= badge["y"] + badge["height"]


def abandon_3ds(page, amount):
    page.get_by_label("Amount in AED").fill(amount)
    fill_card(page, "4000002500003155")
    page.get_by_role("button", name=ADD).click()
    page.get_by_role("button", name="Complete authentication").wait_for()
    page.reload()  # the cardholder walked away from the bank's box
    page.locator("#card-element").get_by_label("Card number").wait_for()


def test_an_abandoned_3ds_top_up_can_be_finished_or_canceled(open_wallet, expect):
    page = open_wallet()
    abandon_3ds(page, "25")
    abandon_3ds(page, "35")
    box = page.locator("#recent-status")
    expect(page.get_by_role("button", name=re.compile("^Finish authentication"))).to_have_count(2)

    page.get_by_role("button", name="Finish authentication for 25.00 AED").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(box).to_have_text("25.00 AED was added to your wallet.")
    expect(page.locator("[data-wallet-balance]")).to_have_text("25.00 AED")

    page.get_by_role("button", name="Cancel top-up of 35.00 AED").click()
    expect(box).to_have_text("Top-up canceled. Nothing was charged.")
    expect(page.get_by_role("button", name=re.compile("^Finish authentication"))).to_have_count(0)
    statuses = dict(TopUp.objects.filter(user=page.user).values_list("amount", "status"))
    assert {str(k): v for k, v in statuses.items()} == {"25.00": "succeeded", "35.00": "canceled"}


@pytest.mark.parametrize("width", [375, 1280])
def test_layout_uses_the_width_and_never_scrolls_sideways(open_wallet, width, expect):
    page = open_wallet()
    abandon_3ds(page, "25")
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    form = page.locator(".topup-card").bounding_box()
    recent = page.locator(".topup-recent").bounding_box()
    balance = page.locator(".wallet-balance").bounding_box()
    if width >= 1280:  # the form beside balance and recent top-ups
        assert balance["x"] > form["x"] + form["width"] - 1 and recent["x"] == balance["x"]
        assert abs(balance["y"] - form["y"]) < 2
    else:  # stacked: balance, form, recent
        assert balance["y"] < form["y"] < recent["y"]
        for box in (form, recent, balance):
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
        actions = page.locator(".topup-row-actions").bounding_box()
        assert actions["x"] + actions["width"] <= width


# --- 5. from an agent to the wallet and back --------------------------------------------------------


def test_from_an_agent_to_the_wallet_and_back(open_wallet, live_server, expect):
    from agents.models import Agent

    Agent.objects.create(name="Log triage", slug="log-triage", description="d", price="5.00", runner="log_triage")
    page = open_wallet("?amount=5.00&next=/agents/log-triage/")
    expect(page.get_by_role("heading", name="Top up to run Log triage")).to_be_visible()
    expect(page.locator("#topup-context")).to_contain_text("you need 5.00 AED more")
    expect(page.get_by_label("Amount in AED")).to_have_value("5.00")
    # Less than a run needs: credited, and the page says what is still missing.
    page.get_by_label("Amount in AED").fill("3")
    fill_card(page, "4242424242424242")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text(
        "3.00 AED was added to your wallet. You need 2.00 AED more to run Log triage."
    )
    back = page.get_by_role("link", name="Back to Log triage", exact=True).last
    expect(back).to_be_visible()
    expect(back).to_be_focused()
    expect(back).to_have_attribute("href", "/agents/log-triage/")
    page.get_by_role("button", name="Add another top-up").click()
    fill_card(page, "4242424242424242")
    page.get_by_label("Amount in AED").fill("2")
    page.get_by_role("button", name=ADD).click()
    expect(page.locator("#topup-status")).to_have_text("2.00 AED was added to your wallet.")
    back.click()
    page.wait_for_url(f"{live_server.url}/agents/log-triage/")


def test_a_foreign_next_shows_no_way_back(open_wallet, expect):
    page = open_wallet("?amount=20&next=https://evil.example/agents/x/")
    expect(page.get_by_role("heading", name="Add money by card")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Back to"))).to_have_count(0)
