"""Racing agent runs on one wallet: no overdraft, exactly-once per request id (SQLite and PostgreSQL)."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import Client

from agents import services
from agents.exceptions import RunnerError
from agents.models import Agent, AgentRun
from agents.runners import REGISTRY, RunnerSpec
from tests.concurrency import run_concurrently
from tests.helpers import use_agent
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://paypa1.com/login"


@pytest.fixture
def agent(make_agent):
    return make_agent(slug="phish", description="", price=Decimal("2.00"))


def logged_in_clients(user, n):
    clients = []
    for _ in range(n):
        c = Client()
        c.force_login(user)
        clients.append(c)
    return clients


def post(client, slug, request_id, text=URL):
    return use_agent(client, slug, text, request_id)


def assert_ledger_consistent(user):
    user = get_user_model().objects.get(pk=user.pk)
    total = WalletTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"]
    assert Decimal(total).quantize(Decimal("0.01")) == user.wallet_balance
    call_command("check_ledger")
    return user.wallet_balance


def test_fifty_simultaneous_runs_with_balance_for_ten(make_user, agent):
    user = make_user(balance=Decimal("20.00"))
    clients = logged_in_clients(user, 50)
    results = run_concurrently(lambda i: post(clients[i], agent.slug, uuid.uuid4()), 50)
    assert not [r for r in results if isinstance(r, BaseException)], results
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 10, codes
    assert codes.count(402) == 40, codes
    for r in results:
        if r.status_code == 402:
            assert r.json()["error"].startswith("Not enough balance: this run costs 2.00 AED")
            assert r.json()["price"] == "2.00"
    assert AgentRun.objects.filter(status=AgentRun.Status.SUCCEEDED).count() == 10
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 10
    assert assert_ledger_consistent(user) == Decimal("0.00")


def gather_before_charge(monkeypatch, n):
    """Hold every racer at the door of the charging transaction until all have arrived, so that
    all of them charge at once and the database has to settle the race."""
    real = services._charge
    gate = threading.Barrier(n)

    def charge(**kwargs):
        gate.wait(timeout=60)
        return real(**kwargs)

    monkeypatch.setattr(services, "_charge", charge)


@pytest.mark.parametrize("balance", ["2.00", "100.00"])
@pytest.mark.parametrize("gathered", [True, False], ids=["gathered", "free"])
def test_racing_duplicates_are_charged_once(make_user, agent, balance, gathered, monkeypatch):
    # "2.00": the losers find the money gone (InsufficientBalance) and must still answer with the
    # winner's run; "100.00": the losers' debits succeed and are rolled back by the unique constraint.
    user = make_user(balance=Decimal(balance))
    clients = logged_in_clients(user, 20)
    if gathered:
        gather_before_charge(monkeypatch, 20)
    rid = uuid.uuid4()
    results = run_concurrently(lambda i: post(clients[i], agent.slug, rid), 20)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert {r.status_code for r in results} <= {200, 202}, [r.content for r in results]
    run = AgentRun.objects.get()
    assert {r.json()["run_id"] for r in results} == {str(run.id)}
    assert [r.json()["duplicate"] for r in results].count(False) == 1
    assert run.status == AgentRun.Status.SUCCEEDED
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 1
    assert assert_ledger_consistent(user) == Decimal(balance) - Decimal("2.00")


def test_racing_duplicates_of_a_failing_run_record_one_uncharged_run(make_user, agent, monkeypatch):
    def fail(text, config):
        raise RunnerError("boom")

    monkeypatch.setitem(REGISTRY, "race_fail", RunnerSpec("race_fail", "Fails", fail))
    Agent.objects.filter(pk=agent.pk).update(runner="race_fail")
    user = make_user(balance=Decimal("10.00"))
    clients = logged_in_clients(user, 15)
    rid = uuid.uuid4()
    results = run_concurrently(lambda i: post(clients[i], agent.slug, rid), 15)
    assert {r.status_code for r in results} == {200}  # the one failed run (written once, finished)
    assert {r.json()["status"] for r in results} == {"failed"}
    assert AgentRun.objects.filter(user=user, request_id=rid).count() == 1
    # An inline failure is never charged: no charge, no refund, only the funding row.
    assert WalletTransaction.objects.filter(user=user).count() == 1
    assert assert_ledger_consistent(user) == Decimal("10.00")


def test_runner_is_called_outside_any_transaction_and_lock(make_user, agent, monkeypatch):
    seen = {}

    def probe(text, config):
        seen["in_atomic_block"] = connection.in_atomic_block
        # Another connection can write this user's balance meanwhile: no lock is held on it.
        done = threading.Event()

        def other():
            from wallet.services import credit

            credit(user=user.pk, amount=Decimal("1.00"), type=TxType.ADJUSTMENT, description="meanwhile")
            done.set()

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        seen["other_writer_finished"] = done.is_set()
        return "ok"

    monkeypatch.setitem(REGISTRY, "probe", RunnerSpec("probe", "Probe", probe))
    Agent.objects.filter(pk=agent.pk).update(runner="probe")
    agent.refresh_from_db()
    user = make_user(balance=Decimal("5.00"))
    outcome = services.run_agent(user=user, agent=agent, input_text="x", request_id=uuid.uuid4())
    assert outcome.run.status == AgentRun.Status.SUCCEEDED
    assert seen == {"in_atomic_block": False, "other_writer_finished": True}
    assert outcome.new_balance == Decimal("4.00")
    assert_ledger_consistent(user)
