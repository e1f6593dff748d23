"""Issue 18 (walkthrough items 15, 17 and "Smaller") in Chromium: where focus lands after a run and
after the spend-limit refusal, the spend line kept current by the run's answer, the agent cards'
prices on one line, and negative amounts written with the real minus sign by the page's script."""

from decimal import Decimal

import pytest

from wallet import services
from wallet.models import BillingSettings, TxType

pytestmark = pytest.mark.e2e

URL = "https://paypa1.example/login"


def fund(user, amount):
    services.credit(user=user, amount=Decimal(amount), type=TxType.TOP_UP, description="Card top-up")


def focused(page):
    """What has focus: the tag, and the attributes that tell the elements apart."""
    return page.evaluate(
        """() => { const el = document.activeElement; return {
             tag: el.tagName.toLowerCase(), notice: el.hasAttribute('data-spend-notice'),
             run: el.closest('[id^=run-]') ? el.closest('[id^=run-]').id : '' }; }"""
    )


def test_focus_goes_to_the_result_after_a_run_and_the_spend_line_follows(
    live_server, login, make_user, make_agent, expect
):
    person = make_user()
    fund(person, "50.00")
    BillingSettings.objects.create(user=person, monthly_spend_limit=Decimal("5.00"))
    agent = make_agent(slug="phish", price=Decimal("2.50"))
    page = login(person)
    page.goto(f"{live_server.url}/agents/{agent.slug}/")
    spend = page.locator("[data-spend]")
    expect(spend).to_contain_text("This month: 0.00 AED of your 5.00 AED spend limit used.")
    page.get_by_label(agent.input_label).fill(URL)
    page.get_by_role("button", name="Run for 2.50 AED").click()
    expect(page.locator("[data-agent-status]")).to_have_text("Done. 2.50 AED charged.")
    where = focused(page)
    assert where["tag"] == "summary" and where["run"].startswith("run-")
    # The usage line is the run's answer, not the page load's.
    expect(spend).to_contain_text("This month: 2.50 AED of your 5.00 AED spend limit used.")
    page.get_by_label(agent.input_label).fill(URL)
    page.get_by_role("button", name="Run for 2.50 AED").click()
    expect(page.locator("[data-agent-status]")).to_have_text("Done. 2.50 AED charged.")
    # 5.00 of 5.00 used: the next run would go over, so the page says so now, before any click.
    notice = page.locator("[data-spend-notice]")
    expect(notice).to_contain_text("This month: 5.00 AED of your 5.00 AED spend limit used, and a run costs 2.50 AED.")
    expect(page.get_by_role("button", name="Run for 2.50 AED")).to_be_disabled()
    assert notice.get_by_role("link").count() == 1


def test_focus_goes_to_the_notice_after_the_spend_limit_refusal(live_server, login, make_user, make_agent, expect):
    person = make_user()
    fund(person, "50.00")
    billing = BillingSettings.objects.create(user=person, monthly_spend_limit=Decimal("10.00"))
    agent = make_agent(slug="phish", price=Decimal("4.00"))
    page = login(person)
    page.goto(f"{live_server.url}/agents/{agent.slug}/")
    # The limit is lowered in another tab after this page loaded: the click is refused.
    billing.monthly_spend_limit = Decimal("3.00")
    billing.save()
    page.get_by_label(agent.input_label).fill(URL)
    page.get_by_role("button", name="Run for 4.00 AED").click()
    notice = page.locator("[data-spend-notice]")
    expect(notice).to_contain_text("This month: 0.00 AED of your 3.00 AED spend limit used, and a run costs 4.00 AED.")
    expect(notice).to_be_focused()
    # Said once, with one link; no second copy in the error box.
    assert page.locator("main").inner_text().lower().count("billing settings") == 1
    assert page.locator("[data-agent-error]").inner_text() == ""
    expect(page.get_by_role("button", name="Run for 4.00 AED")).to_be_disabled()


def test_agent_cards_prices_line_up(live_server, login, make_user, make_agent):
    person = make_user()
    make_agent(slug="a-short", name="Short", description="Checks links.", price=Decimal("2.00"))
    make_agent(slug="b-long", name="Long", price=Decimal("3.00"),
               description="Reads a whole log and says, line by line, what an attacker tried. " * 4)
    make_agent(slug="c-mid", name="Middle", price=Decimal("1000.00"),
               description="Checks an email's headers for spoofing, hop by hop.")
    page = login(person)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/agents/")
    tops = [box["y"] for box in (el.bounding_box() for el in page.locator(".agent-card .agent-price").all())]
    assert len(tops) == 3 and max(tops) - min(tops) < 1, tops
    buttons = [box["y"] for box in (el.bounding_box() for el in page.locator(".agent-card .button").all())]
    assert max(buttons) - min(buttons) < 1, buttons


def test_the_pages_script_writes_negative_amounts_with_the_real_minus_sign(live_server, login, make_user):
    page = login(make_user())
    written = page.evaluate("() => [NetCop.formatMoney('-1500'), NetCop.formatMoney('1500.5'), NetCop.formatMoney('-0')]")
    assert written == ["\u22121,500.00 AED", "1,500.50 AED", "0.00 AED"]


def test_payments_that_did_not_add_money_do_not_scroll_sideways_at_375(live_server, login, make_user, expect):
    from wallet.models import TopUp

    person = make_user()
    fund(person, "10.00")
    for n, status in enumerate((TopUp.Status.FAILED, TopUp.Status.REQUIRES_ACTION, TopUp.Status.PENDING)):
        TopUp.objects.create(user=person, amount=Decimal("10000.00"), currency="AED", idempotency_key=f"k{n}",
                             status=status, stripe_payment_intent_id=f"pi_3QxYzAbCdEfGhIjKlMnOpQr{n}")
    page = login(person)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/wallet/history/")
    section = page.locator(".history-topups")
    expect(section.locator("[data-topup-id]")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    wrap = section.locator(".table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table scrolls inside its card"
    expect(section.locator("[data-topup-status=failed]")).to_contain_text("Added to wallet: Nothing added")
