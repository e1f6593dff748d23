"""A queued agent (http, on a real db_worker process) in a real browser: the page shows the run queued,
then running, then its result, without a reload; a tab reopened mid-run picks the run up; a queued
run can be canceled from the page."""

import re
from decimal import Decimal

import pytest

from agents.models import Agent
from wallet import services
from wallet.models import TxType

pytestmark = pytest.mark.e2e


@pytest.fixture
def funded(make_user):
    person = make_user(email="queued-e2e@example.com")
    services.credit(user=person, amount=Decimal("100.00"), type=TxType.TOP_UP, description="Card top-up")
    return person


def remote_agent(url):
    return Agent.objects.create(
        name="Remote scanner", slug="remote-scanner", description="An n8n flow", price=Decimal("9.00"),
        runner="http", config={"url": url, "timeout": 60},
    )


def test_queued_run_shows_progress_and_result_without_a_reload(
    live_server, login, browser, funded, task_workers, agent_http_server
):
    task_workers("db")
    remote_agent(f"{agent_http_server.url}/hold")
    page = login(funded)
    page.goto(f"{live_server.url}/agents/remote-scanner/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Input").fill("scan 10.0.0.7")
    page.get_by_role("button", name="Run for 9.00 AED").click()
    run = page.locator(".run-list li.run").first
    # Charged at once (the nav says so), then the worker takes it while the agent holds its answer.
    page.locator("[data-wallet-balance='91.00']").wait_for()
    run.get_by_text("Running on a worker").wait_for()
    assert page.get_by_role("button", name="Run for 9.00 AED").is_enabled()  # the form is free again

    # The tab is closed and reopened mid-run: the list shows the run and keeps following it.
    other = page.context.new_page()
    other.goto(f"{live_server.url}/agents/remote-scanner/")
    other.evaluate("window.__sameDocument = true")
    other.locator(".run-list li.run").first.get_by_text("Running on a worker").wait_for()

    agent_http_server.release.set()
    for tab in (page, other):
        output = tab.locator(".run-list li.run").first.locator("pre.run-output")
        output.wait_for(timeout=30_000)
        assert output.inner_text() == "report for scan 10.0.0.7"
        assert tab.evaluate("window.__sameDocument") is True  # no reload happened
    assert "9.00 AED charged" in page.locator("[data-agent-status]").inner_text()
    funded.refresh_from_db()
    assert funded.wallet_balance == Decimal("91.00")
    other.close()


def test_cancel_a_queued_run_from_the_page(live_server, login, funded, task_workers):
    task_workers("db", configure_only=True)  # no worker: the run stays queued
    remote_agent("http://127.0.0.1:9/")
    page = login(funded)
    page.goto(f"{live_server.url}/agents/remote-scanner/")
    page.get_by_label("Input").fill("scan 10.0.0.8")
    page.get_by_role("button", name="Run for 9.00 AED").click()
    run = page.locator(".run-list li.run").first
    run.get_by_text("Waiting for a worker").wait_for()
    page.locator("[data-wallet-balance='91.00']").wait_for()
    run.get_by_role("button", name="Cancel and refund").click()
    page.locator(".run-list li.run").first.get_by_text("You canceled this run.").wait_for()
    page.locator("[data-wallet-balance='100.00']").wait_for()
    assert re.search(r"canceled and refunded", page.locator("[data-agent-status]").inner_text())
    funded.refresh_from_db()
    assert funded.wallet_balance == Decimal("100.00")
