"""Issue 12 (agents) in a real browser: garbage and over-limit input refused without a charge, the
live character count, the nav after a 402, the draft's trip to the wallet and back, the newest run
expanded and the older ones collapsed, and no horizontal scroll at 375 px."""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents.exceptions import too_long_message
from agents.models import Agent, AgentRun
from agents.services import run_agent
from tests.helpers import PASSWORD
from wallet import services
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.e2e

LOG = '203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /../../etc/passwd HTTP/1.1" 400 0 "-" "sqlmap/1.7"'
HEADERS = (
    "Received: from mx.example.net (mx.example.net [203.0.113.5]) by mail.example.org with ESMTPS; "
    "Thu, 10 Oct 2024 13:55:36 +0000\n"
    "Received: from sender.bulk.example (unknown [198.51.100.9]) by mx.example.net with SMTP; "
    "Thu, 10 Oct 2024 13:55:30 +0000\n"
    'From: "PayPal" <service@paypa1.example>\nReturn-Path: <b@bulk.example>\nTo: me@example.org\n'
    "Authentication-Results: mx; spf=fail; dkim=none; dmarc=fail\nSubject: Limited\n"
)


@pytest.fixture
def seeded(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))


def fund(user, amount):
    services.credit(user=user, amount=Decimal(amount), type=TxType.TOP_UP, description="Card top-up")


def nav(page):
    return page.locator("[data-wallet-balance]").inner_text()


def no_horizontal_scroll(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_garbage_input_is_refused_with_what_the_agent_expects_and_costs_nothing(live_server, login, seeded, make_user):
    person = make_user(email="garbage@example.com")
    fund(person, "10.00")
    page = login(person)
    page.goto(f"{live_server.url}/agents/phishing-url-checker/")
    page.get_by_label("URLs to check").fill("hello, this is not a link")
    page.get_by_role("button", name="Run for 2.00 AED").click()
    error = page.locator("[data-agent-error]")
    error.get_by_text("No URL found.").wait_for()
    assert "This agent checks links" in error.inner_text()
    assert page.get_by_label("URLs to check").get_attribute("aria-invalid") == "true"
    assert nav(page) == "10.00 AED"
    assert not AgentRun.objects.exists()
    assert WalletTransaction.objects.filter(user=person).count() == 1


def test_live_count_turns_red_and_over_limit_is_refused_before_posting(live_server, login, seeded, make_user):
    person = make_user(email="count@example.com")
    fund(person, "10.00")
    page = login(person)
    page.goto(f"{live_server.url}/agents/phishing-url-checker/")
    assert page.get_by_text("Up to 50,000 characters").is_visible()
    assert page.get_by_text("Up to 25 URLs per run").is_visible()
    box = page.get_by_label("URLs to check")
    assert box.get_attribute("maxlength") is None
    counter = page.locator("[data-char-count]")
    box.fill("https://a.example/")
    assert counter.inner_text() == "18 / 50,000"
    assert "is-over" not in counter.get_attribute("class")
    text = "https://a.example/ " + "x" * 50_000  # 50,019 characters: nothing may cut it
    box.fill(text)
    assert box.input_value() == text
    assert counter.inner_text() == "50,019 / 50,000"
    assert "is-over" in counter.get_attribute("class")
    message = too_long_message(length=50_019, limit=50_000)  # the server's own words
    assert page.locator("[data-agent-error]").inner_text() == message
    assert page.locator("#agent-input-count").evaluate("e => getComputedStyle(e).color") == "rgb(185, 28, 28)"
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/use/" in r.url else None)
    page.get_by_role("button", name="Run for 2.00 AED").click()
    page.wait_for_timeout(300)
    assert requests == [] and page.locator("[data-agent-error]").inner_text() == message
    # Back under the limit, the count and the message recover.
    box.fill("https://a.example/")
    assert "is-over" not in counter.get_attribute("class")
    assert page.locator("[data-agent-error]").inner_text() == ""
    assert not AgentRun.objects.exists() and nav(page) == "10.00 AED"


def test_nav_balance_updates_after_a_402_and_the_answer_is_in_words(live_server, login, seeded, make_user):
    person = make_user(email="stale@example.com")
    fund(person, "6.00")
    page = login(person)
    page.goto(f"{live_server.url}/agents/log-triage/")
    assert nav(page) == "6.00 AED"
    # Spent elsewhere (another tab) after this page was rendered: the page still shows 6.00.
    run_agent(user=person, agent=Agent.objects.get(slug="phishing-url-checker"),
              input_text="https://a.example/", request_id="5d0b5b5e-4f5e-4a55-9a55-1a2b3c4d5e6f")
    page.get_by_label(re.compile("Access log lines")).fill(LOG)
    page.get_by_role("button", name="Run for 5.00 AED").click()
    page.locator("[data-agent-error]").get_by_text("Not enough balance").wait_for()
    assert nav(page) == "4.00 AED"
    assert page.locator("[data-agent-error]").inner_text() == (
        "Not enough balance: this run costs 5.00 AED and your wallet has 4.00 AED (1.00 AED short)."
    )
    link = page.get_by_role("link", name="Top up 2.00 AED to run Access log triage")
    assert link.get_attribute("href") == "/wallet/?amount=2.00&next=/agents/log-triage/"
    assert page.get_by_role("button", name="Run for 5.00 AED").is_hidden()
    # The text is fine: the field is not marked invalid, and the next step has the focus.
    assert page.get_by_label(re.compile("Access log lines")).get_attribute("aria-invalid") is None
    assert page.evaluate("document.activeElement.textContent") == "Top up 2.00 AED to run Access log triage"
    assert AgentRun.objects.filter(agent__slug="log-triage").count() == 0


def test_the_draft_survives_the_trip_to_the_wallet_and_back(live_server, login, seeded, make_user):
    person = make_user(email="draft@example.com")
    page = login(person)
    page.goto(f"{live_server.url}/agents/log-triage/")
    page.get_by_label(re.compile("Access log lines")).fill(LOG)
    link = page.get_by_role("link", name="Top up 5.00 AED to run Access log triage")
    link.click()
    page.wait_for_url(re.compile(r".*/wallet/\?amount=5\.00&next=/agents/log-triage/$"))
    fund(person, "5.00")  # the top-up succeeded (the card flow is tested in test_topup_browser)
    page.goto(f"{live_server.url}/agents/log-triage/")  # the wallet page's "Back to" link
    box = page.get_by_label(re.compile("Access log lines"))
    assert box.input_value() == LOG
    assert page.locator("[data-char-count]").inner_text() == f"{len(LOG)} / 1,000,000"
    page.get_by_role("button", name="Run for 5.00 AED").click()
    page.locator(".run-highlight [data-run-report]").wait_for()
    assert page.evaluate("sessionStorage.getItem('netcop:agent-draft:log-triage')") is None
    page.reload()
    assert page.get_by_label(re.compile("Access log lines")).input_value() == ""


def test_passwords_are_never_kept_as_a_draft(live_server, login, seeded, make_user):
    person = make_user(email="secret@example.com")
    page = login(person)
    page.goto(f"{live_server.url}/agents/password-strength-auditor/")
    page.get_by_label(re.compile("Passwords")).fill("MyS3cret!")
    page.get_by_role("link", name=re.compile("^Top up")).click()
    page.wait_for_url(re.compile(r".*/wallet/.*"))
    assert page.evaluate("JSON.stringify(sessionStorage)") == "{}"


@pytest.mark.parametrize("width", [1280, 375])
def test_newest_run_expanded_older_collapsed_and_no_horizontal_scroll(live_server, browser, seeded, make_user, width):
    person = make_user(email=f"runs{width}@example.com")
    fund(person, "50.00")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(person.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/.*"))
        page.goto(f"{live_server.url}/agents/email-header-analyzer/")
        box = page.get_by_label("Raw email headers")
        for _ in range(2):
            box.fill(HEADERS)
            page.get_by_role("button", name="Run for 3.00 AED").click()
            page.locator(".run-highlight [data-run-report]").wait_for()
            page.locator("[data-agent-submit]:not([disabled])").wait_for()
        runs = page.locator("[data-run-list] details[data-run]")
        assert runs.count() == 2
        assert [runs.nth(i).evaluate("d => d.open") for i in range(2)] == [True, False]
        newest = page.locator(".run-highlight")
        assert newest.locator(".badge-risk-danger").inner_text() == "Likely spoofed"
        assert newest.locator("caption").first.inner_text().startswith("Route (2 hops")
        assert newest.locator("table").first.locator("tbody tr").count() == 2
        assert no_horizontal_scroll(page, width)
        page.reload()
        runs = page.locator("[data-run-list] details[data-run]")
        assert [runs.nth(i).evaluate("d => d.open") for i in range(2)] == [True, False]
        assert no_horizontal_scroll(page, width)
        runs.nth(1).locator("summary.run-summary").click()  # an older run opens on demand
        assert runs.nth(1).evaluate("d => d.open") and no_horizontal_scroll(page, width)
        page.get_by_role("link", name=re.compile("^All runs")).click()
        page.wait_for_url(re.compile(r".*/agents/email-header-analyzer/runs/$"))
        assert page.get_by_text("1–2 of 2").is_visible()
        assert no_horizontal_scroll(page, width)
    finally:
        context.close()


def test_without_javascript_a_refused_post_redirects_so_a_reload_does_not_post(live_server, browser, seeded, make_user):
    person = make_user(email="nojs@example.com")
    fund(person, "10.00")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(person.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/.*"))
        page.goto(f"{live_server.url}/agents/phishing-url-checker/")
        page.get_by_label("URLs to check").fill("not a link")
        page.get_by_role("button", name="Run for 2.00 AED").click()
        page.wait_for_url(re.compile(r".*/agents/phishing-url-checker/#agent-input$"))
        assert "No URL found." in page.locator("[data-agent-error]").inner_text()
        assert page.get_by_label("URLs to check").input_value() == "not a link"
        methods = []
        page.on("request", lambda r: methods.append(r.method))
        page.reload()
        assert methods and set(methods) == {"GET"}
        assert page.locator("[data-agent-error]").inner_text() == ""
        assert no_horizontal_scroll(page, 375)
        assert WalletTransaction.objects.filter(user=person).count() == 1
    finally:
        context.close()
