"""The monthly spend limit on the agent page (issue 18, items 15 and 18): the month's spending comes
from the ledger (a failed run that cost nothing does not count), the page says before the click
when the limit leaves too little, every run answer carries the month's spending and limit, and the
refusal names the billing settings once, with one link."""

import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from agents import services as agent_services
from agents.models import AgentRun
from tests.helpers import elements, use_agent
from wallet import services
from wallet.models import BillingSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(make_user, make_agent, auth_client, user):
    """The logged-in user with 100.00 AED, a monthly spend limit of 10.00 AED and a 4.00 AED agent."""
    services.credit(user=user, amount=Decimal("100.00"), type=services.TxType.ADJUSTMENT, description="funds")
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("10.00"))
    return make_agent(slug="chk", price=Decimal("4.00"))


def run(client, slug="chk", text="http://paypa1.com"):
    return use_agent(client, slug, text)


def test_failed_runs_that_cost_nothing_do_not_count_towards_the_limit(auth_client, user, limited):
    # Four inline runs that failed before any charge (no ledger row): 16.00 AED at list price.
    for _ in range(4):
        AgentRun.objects.create(user=user, agent=limited, price=limited.price, status=AgentRun.Status.FAILED,
                                request_id=uuid.uuid4(), error_message="The agent failed.",
                                finished_at=timezone.now())
    answer = run(auth_client)
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"
    assert answer.json()["month_spent"] == "4.00"


def test_refunded_runs_do_not_count_and_the_month_comes_from_the_ledger(user, limited):
    services.debit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_USAGE, description="run")
    services.credit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_REFUND, description="refund")
    services.debit(user=user, amount=Decimal("3.00"), type=services.TxType.AGENT_USAGE, description="run")
    assert agent_services.month_spent(user_id=user.pk) == Decimal("3.00")


def test_a_runs_answer_carries_the_months_spending_and_limit(auth_client, limited):
    body = run(auth_client).json()
    assert (body["month_spent"], body["spend_limit"]) == ("4.00", "10.00")
    assert "This month: 4.00 AED of your 10.00 AED spend limit used." in body["spend_html"]
    second = run(auth_client).json()
    assert second["month_spent"] == "8.00"
    # 8.00 used, a run costs 4.00: the line turns into the notice with the way out.
    assert "data-spend-over" in second["spend_html"] and "Raise the limit in your billing settings" in second["spend_html"]


def test_the_page_says_the_limit_leaves_too_little_before_the_click(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    html = auth_client.get("/agents/chk/").content.decode()
    assert "This month: 8.00 AED of your 10.00 AED spend limit used, and a run costs 4.00 AED." in html
    buttons = [attrs for tag, attrs, _, _ in elements(html) if "data-agent-submit" in attrs]
    assert len(buttons) == 1 and "disabled" in buttons[0]
    assert html.count('href="/wallet/settings/"') == 2  # the nav's "Billing" and the notice's one link
    # Room for a run: the button is live and the line is a plain usage line.
    services.credit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_REFUND, description="refund")
    html = auth_client.get("/agents/chk/").content.decode()
    buttons = [attrs for tag, attrs, _, _ in elements(html) if "data-agent-submit" in attrs]
    assert "disabled" not in buttons[0] and "data-spend-over" not in html


def test_the_refusal_names_the_billing_settings_once(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    refused = run(auth_client)
    assert refused.status_code == 402
    body = refused.json()
    words = (body["error"] + " " + body["settings_label"]).lower()
    assert words.count("billing settings") == 1
    assert body["error"] == "This run would go over your monthly spend limit of 10.00 AED (8.00 AED used this month)."
    assert body["spend_html"].lower().count("billing settings") == 1


def test_without_javascript_the_refusal_is_the_pages_notice_not_a_second_message(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    form = {"input": "http://paypa1.com", "request_id": str(uuid.uuid4())}
    refused = auth_client.post("/agents/chk/use/", form)
    assert refused.status_code == 302 and refused["Location"] == "/agents/chk/#agent-spend"
    html = auth_client.get("/agents/chk/").content.decode()
    assert 'class="messages"' not in html
    assert html.lower().count("raise the limit in your billing settings") == 1
