"""Issue 20 item 7: a queued run whose worker died is retried within a minute, whatever the agent's
timeout. The worker touches the run (heartbeat_at) while the runner works; the sweep takes a running
run whose heartbeat is older than queue.HEARTBEAT_LOST as lost, not only after AGENT_RUN_LOST_AFTER."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from agents import queue, services
from agents.models import Agent, AgentRun
from agents.runners import HTTP_MAX_TIMEOUT, REGISTRY, RunnerSpec
from tests.workers import wait_for
from wallet.models import TxType, WalletTransaction

PRICE = Decimal("4.00")


@pytest.fixture
def funded(make_user):
    return make_user(balance=Decimal("20.00"))


@pytest.fixture
def lost_after_an_hour(settings):
    # Far beyond the minute: only the heartbeat can find the dead worker in these tests.
    settings.AGENT_RUN_LOST_AFTER = timedelta(hours=1)


def slow_http_agent(url: str) -> Agent:
    return Agent.objects.create(
        name="Slow scanner", slug="slow-" + uuid.uuid4().hex[:6], description="n8n flow",
        price=PRICE, runner="http", config={"url": url, "timeout": HTTP_MAX_TIMEOUT},
    )


def start_run(user, agent) -> AgentRun:
    return services.run_agent(user=user, agent=agent, input_text="10.0.0.1", request_id=uuid.uuid4()).run


def fresh(run) -> AgentRun:
    return AgentRun.objects.get(pk=run.pk)


def money_trail(user) -> tuple[int, int, Decimal]:
    user.refresh_from_db()
    rows = WalletTransaction.objects.filter(user=user)
    assert rows.aggregate(s=Sum("amount"))["s"] == user.wallet_balance
    return (rows.filter(type=TxType.AGENT_USAGE).count(), rows.filter(type=TxType.AGENT_REFUND).count(),
            user.wallet_balance)


def test_worker_killed_mid_run_is_retried_within_a_minute(task_workers, agent_http_server, funded,
                                                          lost_after_an_hour):
    """SIGKILL a real db_worker while the agent (timeout 120 s) holds the call: the run's heartbeat
    stops, and a sweep a minute later retries it (AGENT_RUN_LOST_AFTER is an hour here). Not on RQ:
    its work horse leaves the worker's process group, so WorkerProcess.kill() does not reach it."""
    first = task_workers("db")
    run = start_run(funded, slow_http_agent(f"{agent_http_server.url}/hold"))
    wait_for(agent_http_server.entered.is_set, 60, "the worker to call the agent")
    run = fresh(run)
    assert run.status == AgentRun.Status.RUNNING and run.heartbeat_at is not None
    first.kill()
    agent_http_server.release.set()
    last_beat = fresh(run).heartbeat_at

    # Within the minute the run may still be alive: the sweep leaves it.
    report = queue.sweep_queued_runs(now=last_beat + queue.HEARTBEAT_LOST - timedelta(seconds=1))
    assert (report.retried, report.refunded) == (0, 0)
    assert fresh(run).status == AgentRun.Status.RUNNING
    # A minute without a heartbeat: lost, retried once.
    report = queue.sweep_queued_runs(now=last_beat + queue.HEARTBEAT_LOST + timedelta(seconds=1))
    assert (report.retried, report.refunded) == (1, 0)
    assert fresh(run).status == AgentRun.Status.QUEUED

    task_workers("db")
    run = wait_for(lambda: (r := fresh(run)).is_finished and r, 60, "the retry to finish")
    assert run.status == AgentRun.Status.SUCCEEDED and run.attempts == 2, run.error_message
    assert agent_http_server.hits == ["/hold", "/hold"]
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


@pytest.mark.parametrize("backend", ["db", "rq"])
def test_a_live_worker_keeps_its_slow_run_alive(backend, task_workers, agent_http_server, funded,
                                                lost_after_an_hour):
    """A real worker beats while its runner waits on the network: the sweep never takes the run."""
    task_workers(backend)
    run = start_run(funded, slow_http_agent(f"{agent_http_server.url}/hold"))
    wait_for(agent_http_server.entered.is_set, 60, "the worker to call the agent")
    first_beat = fresh(run).heartbeat_at
    wait_for(lambda: fresh(run).heartbeat_at > first_beat, queue.HEARTBEAT_EVERY.total_seconds() * 4,
             "the worker's next heartbeat", interval=0.5)
    latest = fresh(run).heartbeat_at
    report = queue.sweep_queued_runs(now=latest + queue.HEARTBEAT_LOST - timedelta(seconds=1))
    assert (report.retried, report.refunded) == (0, 0)
    agent_http_server.release.set()
    run = wait_for(lambda: (r := fresh(run)).is_finished and r, 60, "the run to finish")
    assert run.status == AgentRun.Status.SUCCEEDED and run.attempts == 1
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


def test_a_heartbeat_never_revives_a_run_the_sweep_moved_on(funded, monkeypatch, transactional_db):
    """The sweep requeued attempt 1 while its runner still ran: attempt 1's heartbeat thread must not
    write to the run any more (its beat is conditional on the attempt), and stops."""
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)  # no queue in this test
    monkeypatch.setattr(queue, "HEARTBEAT_EVERY", timedelta(seconds=0.05))
    run = start_run(funded, slow_http_agent("http://127.0.0.1:9/never"))
    seen = {}

    def runner(text, config):
        claimed = fresh(run).heartbeat_at
        wait_for(lambda: fresh(run).heartbeat_at > claimed, 10, "a heartbeat")
        report = queue.sweep_queued_runs(now=timezone.now() + queue.HEARTBEAT_LOST + timedelta(seconds=5))
        assert report.retried == 1
        seen["requeued"] = fresh(run).heartbeat_at
        time.sleep(0.3)  # several beat intervals
        return "late result"

    monkeypatch.setitem(REGISTRY, "http", RunnerSpec("http", "Slow", runner, queued=True))
    assert queue.execute_queued_run(run_id=run.pk) == "superseded"
    run = fresh(run)
    assert run.status == AgentRun.Status.QUEUED and run.heartbeat_at == seen["requeued"]
    assert money_trail(funded) == (1, 0, Decimal("16.00"))
