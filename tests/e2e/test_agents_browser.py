"""Agents in a real browser: run each built-in agent, see its report and the nav balance drop;
a failing agent costs nothing; the page works without JavaScript and at 375 px."""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents.models import Agent
from tests.helpers import PASSWORD
from wallet import services
from wallet.models import TxType

pytestmark = pytest.mark.e2e

SAMPLES = {
    "phishing-url-checker": ("https://xn--pypal-4ve.com/login", "High risk"),
    "email-header-analyzer": (
        "From: \"PayPal\" <service@paypa1.example>\nReturn-Path: <b@bulk.example>\nTo: me@example.org\n"
        "Authentication-Results: mx; spf=fail; dkim=none; dmarc=fail\nSubject: Limited\n",
        "Likely spoofed or malicious",
    ),
    "password-strength-auditor": ("password123", "very weak"),
    "log-triage": (
        '203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /../../etc/passwd HTTP/1.1" 400 0 "-" "sqlmap/1.7"',
        "Path traversal",
    ),
}


@pytest.fixture
def funded(make_user):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    person = make_user(email="agents-e2e@example.com")
    services.credit(user=person, amount=Decimal("1234.00"), type=TxType.TOP_UP, description="Card top-up")
    return person


def nav_balance(page):
    el = page.locator("[data-wallet-balance]")
    return el.get_attribute("data-wallet-balance"), el.inner_text()


def test_run_each_builtin_agent_and_see_report_and_balance(live_server, login, funded):
    page = login(funded)
    balance = Decimal("1234.00")
    for slug, (text, expected) in SAMPLES.items():
        agent = Agent.objects.get(slug=slug)
        page.goto(f"{live_server.url}/agents/")
        page.get_by_role("link", name=agent.name, exact=True).click()
        page.wait_for_url(f"**/agents/{slug}/")
        page.get_by_label(agent.input_label).fill(text)
        page.get_by_role("button", name=re.compile(r"^Run for")).click()
        report = page.locator(".run-highlight [data-run-report]")
        report.wait_for()
        assert expected in report.inner_text()
        balance -= agent.price
        assert nav_balance(page) == (f"{balance:.2f}", f"{balance:,.2f} AED")
        assert f"{agent.price:.2f} AED charged" in page.locator("[data-agent-status]").inner_text()
        assert page.url.endswith(f"/agents/{slug}/")  # the JavaScript path, no reload
    funded.refresh_from_db()
    assert funded.wallet_balance == balance
    # A reload shows the same run from the server, with the same balance.
    page.reload()
    assert "Path traversal" in page.locator("[data-run-report]").first.inner_text()
    assert nav_balance(page)[0] == f"{balance:.2f}"


def test_failing_agent_costs_nothing(live_server, login, funded):
    Agent.objects.create(
        name="Remote scanner", slug="remote-scanner", description="n8n flow", price=Decimal("9.00"),
        runner="http", config={"url": "http://127.0.0.1:9/", "timeout": 2},
    )
    page = login(funded)
    page.goto(f"{live_server.url}/agents/remote-scanner/")
    page.get_by_label("Input").fill("scan 10.0.0.1")
    page.get_by_role("button", name="Run for 9.00 AED").click()
    page.locator(".run-failed .run-error").wait_for()
    assert "You were not charged." in page.locator("[data-agent-error]").inner_text()
    assert nav_balance(page) == ("1234.00", "1,234.00 AED")
    funded.refresh_from_db()
    assert funded.wallet_balance == Decimal("1234.00")


def test_keyboard_only_run(live_server, login, funded):
    page = login(funded)
    page.goto(f"{live_server.url}/agents/password-strength-auditor/")
    page.get_by_label(re.compile("Passwords")).focus()
    page.keyboard.type("correct horse battery staple orbit")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("Run for")
    page.keyboard.press("Enter")
    page.locator(".run-highlight [data-run-report]").wait_for()
    assert "4/4, very strong" in page.locator(".run-highlight [data-run-report]").inner_text()


def test_without_javascript_at_375px(live_server, browser, funded, make_user):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(funded.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/.*"))
        page.goto(f"{live_server.url}/agents/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.goto(f"{live_server.url}/agents/phishing-url-checker/")
        page.get_by_label("URLs to check").fill("http://192.0.2.1/paypal/login.php")
        page.get_by_role("button", name="Run for 2.00 AED").click()
        page.wait_for_url(re.compile(r".*/agents/phishing-url-checker/\?run=.*"))
        assert "High risk" in page.locator(".run-highlight [data-run-report]").inner_text()
        assert "finished. 2.00 AED charged." in page.locator(".messages").inner_text()
        assert nav_balance(page) == ("1232.00", "1,232.00 AED")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # An empty balance: the button becomes a top-up link for the shortfall.
        poor = make_user(email="poor@example.com")
        context.clear_cookies()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(poor.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/.*"))
        page.goto(f"{live_server.url}/agents/log-triage/")
        link = page.get_by_role("link", name="Top up 5.00 AED to run Access log triage")
        assert link.get_attribute("href") == "/wallet/?amount=5.00&next=/agents/log-triage/"
        assert page.get_by_role("button", name=re.compile("^Run for")).count() == 0
    finally:
        context.close()
