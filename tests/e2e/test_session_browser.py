"""The session ends while a page is open (logged out in another tab, or expired): the page says so
with a link to log in again, and the nav shows the logged-out state."""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command

from wallet import services
from wallet.models import TopUp, TxType

pytestmark = pytest.mark.e2e


def end_session(page):
    """What logging out elsewhere leaves behind: no session cookie (the CSRF cookie stays)."""
    cookies = [c for c in page.context.cookies() if c["name"] != "sessionid"]
    page.context.clear_cookies()
    page.context.add_cookies(cookies)


def assert_logged_out_state(page, expect, path):
    link = page.get_by_role("link", name="Log in again")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == f"/accounts/login/?next={path.replace('/', '%2F')}"
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    expect(nav.get_by_role("link", name="Sign up")).to_be_visible()
    for gone in ("Wallet", "History", "Agents", "Account"):
        expect(nav.get_by_role("link", name=gone, exact=True)).to_have_count(0)
    expect(nav.get_by_role("button", name="Log out")).to_have_count(0)
    expect(page.locator("[data-wallet-balance]")).to_have_count(0)


def test_wallet_page_after_the_session_ended(live_server, stripe_sandbox, make_user, login, expect):
    page = login(make_user(email="gone@example.com"))
    page.goto(f"{live_server.url}/wallet/")
    element = page.locator("#card-element")
    element.get_by_label("Card number").wait_for()
    page.get_by_label("Amount in AED").fill("20.00")
    element.get_by_label("Card number").fill("4242 4242 4242 4242")
    element.get_by_label("Expiry month").fill("12")
    element.get_by_label("Expiry year").fill("34")
    element.get_by_label("Security code (CVC)").fill("123")
    end_session(page)
    page.get_by_role("button", name="Add to wallet").click()
    expect(page.locator("#topup-status")).to_have_text("Your session has ended. Log in again.")
    assert_logged_out_state(page, expect, "/wallet/")
    assert not TopUp.objects.exists()
    # The link goes to the log-in page and back to the wallet afterwards.
    page.get_by_role("link", name="Log in again").click()
    page.get_by_label("Email").fill("gone@example.com")
    page.get_by_label("Password").fill("Sup3r-secret-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/wallet/$"))


def test_agent_page_after_the_session_ended(live_server, make_user, login, expect):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    person = make_user(email="gone-agents@example.com")
    services.credit(user=person, amount=Decimal("50.00"), type=TxType.TOP_UP, description="Card top-up")
    page = login(person)
    page.goto(f"{live_server.url}/agents/phishing-url-checker/")
    page.get_by_role("textbox").first.fill("https://example.com/")
    end_session(page)
    page.get_by_role("button", name=re.compile(r"^Run for")).click()
    expect(page.locator("[data-agent-error]")).to_have_text("Your session has ended. Log in again.")
    assert_logged_out_state(page, expect, "/agents/phishing-url-checker/")
    person.refresh_from_db()
    assert person.wallet_balance == Decimal("50.00")
