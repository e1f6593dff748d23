"""Query budgets of the agents' hot paths (issue 19): a change that adds a statement to a paid run
fails here with the list of statements, instead of showing up weeks later as a slower benchmark.

Counted: the statements a request sends (through Django's cursor), transaction control aside
(BEGIN/COMMIT on PostgreSQL, SAVEPOINT/RELEASE inside the test's transaction); a run is also
checked to commit its money once."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from agents.models import AgentRun
from tests.helpers import assert_max_queries

pytestmark = pytest.mark.django_db

URL = "https://paypal.com.secure-login.xyz/verify"

# Session, user; the agent with the user's monthly spend limit; then, in ONE transaction, the
# debit (on PostgreSQL the conditional UPDATE ... RETURNING and the ledger INSERT; on SQLite a SELECT
# of the balance, the UPDATE and the ledger INSERT) and the finished run's INSERT. An unwatched
# balance reads no billing settings. Exact: a budget with slack lets a planted statement through.
# Credit lots (issue 23): PostgreSQL draws them inside the ledger INSERT's statement (still 2);
# SQLite has no data-modifying CTE, so it reads the open lots, updates them and inserts the
# allocations (3 more; SQLite is the development database, PostgreSQL the measured one).
DEBIT = {"postgresql": 2, "sqlite": 6}[connection.vendor]
INLINE_RUN = 4 + DEBIT
# The same transaction (the run recorded "queued"), then on commit the task row (database queue).
QUEUED_RUN = 5 + DEBIT
# Session, user, the run with its agent, the balance.
RUN_STATUS = 4


def query_budget(budget: int, what: str):
    return assert_max_queries(budget, what, transaction_control=False)


def post_run(client, agent, text=URL):
    body = json.dumps({"input": text, "request_id": str(uuid.uuid4())})
    return client.post(f"/agents/{agent.slug}/use/", body, content_type="application/json")


@pytest.fixture
def runner(client, make_user):
    user = make_user(balance=Decimal("50.00"))
    client.force_login(user)
    return user


def test_an_inline_run_stays_within_its_budget(client, runner, agent):
    post_run(client, agent)  # warm up (content types, first-request work)
    with query_budget(INLINE_RUN, "an inline run (POST /agents/<slug>/use/)") as ctx:
        response = post_run(client, agent)
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    sql = [q["sql"].split()[0].upper() for q in ctx]
    # One write of the balance, two inserts, one commit: no second UPDATE recording the output.
    # (On PostgreSQL the ledger INSERT starts WITH: it draws the credit lots in the same statement.)
    inserts = sql.count("INSERT") + sql.count("WITH")
    # SQLite also updates the drawn lot and inserts its allocation.
    expected = (1, 2) if connection.vendor == "postgresql" else (2, 3)
    assert (sql.count("UPDATE"), inserts) == expected, sql
    assert response.json()["balance"] == f"{Decimal('50.00') - 2 * agent.price:.2f}"


def test_a_queued_run_stays_within_its_budget(client, runner, make_agent, settings,
                                              django_capture_on_commit_callbacks):
    # The database queue, as deployed by default; no worker runs in this test.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "agents"]}}
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    agent = make_agent(runner="http", config={"url": "http://127.0.0.1:9/", "timeout": 2})
    with django_capture_on_commit_callbacks(execute=True):
        post_run(client, agent)  # warm up
    with (
        query_budget(QUEUED_RUN, "a queued run (POST /agents/<slug>/use/, enqueued on commit)"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post_run(client, agent)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert AgentRun.objects.filter(status=AgentRun.Status.QUEUED).count() == 2


def test_polling_a_run_stays_within_its_budget(client, runner, agent):
    status_url = f"/agents/runs/{post_run(client, agent).json()['run_id']}/"
    client.get(status_url)
    with query_budget(RUN_STATUS, "polling a run (GET /agents/runs/<id>/)"):
        assert client.get(status_url).json()["status"] == "succeeded"


def test_an_inline_run_under_a_spend_limit_costs_three_statements_more(client, runner, agent):
    """Under a limit the charge locks the user's row and reads the month's spending under that lock,
    and the answer reads it again for the page's line: three statements, no more (the line is
    rendered without the context processors, which would cost on every run). The budget had one
    statement of slack, which hid the lock (and would have let a planted statement through)."""
    from wallet.models import BillingSettings

    BillingSettings.objects.create(user=runner, monthly_spend_limit=Decimal("40.00"))
    post_run(client, agent)
    with query_budget(INLINE_RUN + 3, "an inline run under a monthly spend limit"):
        response = post_run(client, agent)
    assert response.status_code == 200 and response.json()["month_spent"] == f"{2 * agent.price:.2f}"


def test_polling_a_run_after_the_session_ended_is_a_json_401(client, runner, agent):
    status_url = f"/agents/runs/{post_run(client, agent).json()['run_id']}/"
    client.logout()
    response = client.get(status_url)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
