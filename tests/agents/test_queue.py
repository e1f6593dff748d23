"""Background work on real workers: queued agent runs through `db_worker` and RQ, worker crashes
(SIGKILL), double delivery, the queue down at enqueue time, cancel races, and the scheduler."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from agents import queue, services
from agents.exceptions import RunNotCancelable
from agents.models import Agent, AgentRun
from agents.tasks import execute_run
from tests.concurrency import run_concurrently
from tests.workers import wait_for
from wallet import scheduler
from wallet.models import ChoreSlot, TopUp, TxType, WalletTransaction

PRICE = Decimal("4.00")


@pytest.fixture
def funded(make_user):
    return make_user(balance=Decimal("20.00"))


def http_agent(url: str, **config) -> Agent:
    return Agent.objects.create(
        name="Remote scanner", slug="remote-" + uuid.uuid4().hex[:6], description="n8n flow",
        price=PRICE, runner="http", config={"url": url, "timeout": 30, **config},
    )


def start_run(user, agent) -> AgentRun:
    outcome = services.run_agent(user=user, agent=agent, input_text="10.0.0.1", request_id=uuid.uuid4())
    return outcome.run


def status_of(run) -> str:
    return AgentRun.objects.values_list("status", flat=True).get(pk=run.pk)


def finished(run):
    run = AgentRun.objects.get(pk=run.pk)
    return run if run.is_finished else None


def money_trail(user) -> tuple[int, int, Decimal]:
    """(charges, refunds, balance) for the user, with the ledger/balance agreement checked."""
    user.refresh_from_db()
    rows = WalletTransaction.objects.filter(user=user)
    assert rows.aggregate(s=Sum("amount"))["s"] == user.wallet_balance
    charges = rows.filter(type=TxType.AGENT_USAGE).count()
    refunds = rows.filter(type=TxType.AGENT_REFUND).count()
    return charges, refunds, user.wallet_balance


# --- a queued run end to end, on each backend --------------------------------------------------


@pytest.mark.parametrize("backend", ["db", "rq"])
def test_queued_run_end_to_end_on_a_real_worker(backend, task_workers, agent_http_server, funded):
    task_workers(backend)
    agent = http_agent(f"{agent_http_server.url}/ok")
    run = start_run(funded, agent)
    # The request's part is done: charged once, queued, nothing run yet in this process.
    assert run.status == AgentRun.Status.QUEUED
    assert money_trail(funded) == (1, 0, Decimal("16.00"))
    run = wait_for(lambda: finished(run), 60, "the worker to finish the run")
    assert run.status == AgentRun.Status.SUCCEEDED, run.error_message
    assert run.output == "report for 10.0.0.1" and run.attempts == 1
    assert money_trail(funded) == (1, 0, Decimal("16.00"))
    assert agent_http_server.hits == ["/ok"]


# --- a worker killed mid-run: retried once or refunded, never both, never charged twice ---------


def sweep_later(minutes=10):
    return queue.sweep_queued_runs(now=timezone.now() + timedelta(minutes=minutes))


def test_worker_killed_mid_run_is_retried_once_and_charged_once(task_workers, agent_http_server, funded):
    first = task_workers("db")
    run = start_run(funded, http_agent(f"{agent_http_server.url}/hold"))
    wait_for(agent_http_server.entered.is_set, 60, "the worker to call the agent")
    assert status_of(run) == AgentRun.Status.RUNNING
    first.kill()  # SIGKILL mid-run: the run stays "running" with nobody working on it
    agent_http_server.release.set()
    assert status_of(run) == AgentRun.Status.RUNNING

    report = sweep_later()  # once its worker is presumed lost
    assert (report.retried, report.refunded) == (1, 0)
    assert status_of(run) == AgentRun.Status.QUEUED
    task_workers("db")
    run = wait_for(lambda: finished(run), 60, "the retry to finish")
    assert run.status == AgentRun.Status.SUCCEEDED and run.attempts == 2
    assert agent_http_server.hits == ["/hold", "/hold"]
    assert money_trail(funded) == (1, 0, Decimal("16.00"))
    assert (sweep_later().retried, sweep_later().refunded) == (0, 0)


def test_worker_killed_on_the_retry_too_is_refunded_once(task_workers, agent_http_server, funded):
    run = None
    for attempt in (1, 2):
        worker = task_workers("db")
        if run is None:
            run = start_run(funded, http_agent(f"{agent_http_server.url}/hold"))
        wait_for(lambda n=attempt: len(agent_http_server.hits) == n, 60, f"attempt {attempt} to start")
        worker.kill()
        report = sweep_later()
        if attempt == 1:
            assert (report.retried, report.refunded) == (1, 0)
        else:
            assert (report.retried, report.refunded) == (0, 1)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED and run.error_message == queue.RUN_LOST
    assert money_trail(funded) == (1, 1, Decimal("20.00"))
    # The dead attempt's late answer, another sweep, another delivery: none of them moves money.
    agent_http_server.release.set()
    assert (sweep_later().retried, sweep_later().refunded) == (0, 0)
    assert queue.execute_queued_run(run_id=run.pk) == "skipped"
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


def test_late_result_of_a_presumed_dead_attempt_is_dropped(funded, monkeypatch, transactional_db):
    """The sweep gave up on attempt 1 (requeued it) while its worker was only slow: its result must
    not be recorded over the retry's, and it must not refund."""
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)  # no queue in this test
    agent = http_agent("http://127.0.0.1:9/never")
    run = start_run(funded, agent)

    def slow_runner(text, config):
        # While "attempt 1" runs, the sweep declares it lost and requeues the run.
        assert sweep_later().retried == 1
        return "late result"

    from agents.runners import REGISTRY, RunnerSpec

    monkeypatch.setitem(REGISTRY, "http", RunnerSpec("http", "Slow", slow_runner, queued=True))
    assert queue.execute_queued_run(run_id=run.pk) == "superseded"
    run.refresh_from_db()
    assert run.status == AgentRun.Status.QUEUED and run.output == "" and run.attempts == 1
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


def test_late_result_while_the_retry_runs_is_dropped(funded, monkeypatch, transactional_db):
    """Attempt 1 is slow; the sweep requeues the run and attempt 2 starts; attempt 1 answers while
    attempt 2 is still running. Both saw the run "running": only the attempt number tells them apart,
    so attempt 1's answer is dropped and attempt 2's recorded."""
    import threading

    from django.db import connections

    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)
    agent = http_agent("http://127.0.0.1:9/never")
    run = start_run(funded, agent)
    first_may_answer, first_started = threading.Event(), threading.Event()
    results = {}

    def runner(text, config):
        if not first_started.is_set():  # attempt 1
            first_started.set()
            first_may_answer.wait(30)
            return "attempt 1, late"
        first_may_answer.set()  # attempt 2 lets attempt 1 answer, and waits for it to be recorded
        first.join(30)
        return "attempt 2"

    from agents.runners import REGISTRY, RunnerSpec

    monkeypatch.setitem(REGISTRY, "http", RunnerSpec("http", "Slow", runner, queued=True))

    def attempt_one():
        try:
            results[1] = queue.execute_queued_run(run_id=run.pk)
        finally:
            connections.close_all()

    first = threading.Thread(target=attempt_one)
    first.start()
    assert first_started.wait(30)
    assert sweep_later().retried == 1
    results[2] = queue.execute_queued_run(run_id=run.pk)
    assert results == {1: "superseded", 2: AgentRun.Status.SUCCEEDED}
    run.refresh_from_db()
    assert run.status == AgentRun.Status.SUCCEEDED and run.output == "attempt 2" and run.attempts == 2
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


# --- the same task delivered twice -------------------------------------------------------------


def test_same_task_delivered_twice_runs_the_agent_once(task_workers, agent_http_server, funded):
    task_workers("db")
    task_workers("db")  # two workers: the duplicate is picked up while the first still runs
    run = start_run(funded, http_agent(f"{agent_http_server.url}/hold"))
    wait_for(agent_http_server.entered.is_set, 60, "the first delivery to call the agent")
    duplicate = execute_run.enqueue(str(run.pk))  # what an at-least-once queue may do
    wait_for(lambda: (duplicate.refresh() or duplicate.is_finished), 60, "the duplicate delivery")
    assert duplicate.return_value == "skipped"
    agent_http_server.release.set()
    run = wait_for(lambda: finished(run), 60, "the run to finish")
    assert run.status == AgentRun.Status.SUCCEEDED and run.attempts == 1
    assert agent_http_server.hits == ["/hold"]
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


# --- the queue unavailable when the run is enqueued --------------------------------------------


def test_queue_down_at_enqueue_refunds_the_run_and_says_so(task_workers, funded, settings):
    task_workers("rq", configure_only=True)
    # Nothing listens on port 1: the enqueue after commit fails.
    settings.RQ_QUEUES = {q: {"URL": "redis://127.0.0.1:1/0"} for q in ("default", "agents")}
    run = start_run(funded, http_agent("http://127.0.0.1:9/"))
    assert run.status == AgentRun.Status.FAILED
    assert run.error_message == queue.QUEUE_UNAVAILABLE
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


# --- canceling a queued run --------------------------------------------------------------------


def test_cancel_a_queued_run_refunds_it_and_the_worker_skips_it(task_workers, agent_http_server, funded):
    task_workers("db", configure_only=True)  # enqueued to the database; no worker yet
    run = start_run(funded, http_agent(f"{agent_http_server.url}/ok"))
    queue.cancel_run(user=funded, run_id=run.pk)
    assert status_of(run) == AgentRun.Status.FAILED
    assert money_trail(funded) == (1, 1, Decimal("20.00"))
    with pytest.raises(RunNotCancelable):
        queue.cancel_run(user=funded, run_id=run.pk)  # twice: nothing more
    task_workers("db")
    from django_tasks_db.models import DBTaskResult

    wait_for(lambda: not DBTaskResult.objects.filter(status="READY").exists(), 60, "the worker")
    assert agent_http_server.hits == []
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


def test_cancel_after_the_worker_took_the_run_is_refused(task_workers, agent_http_server, funded):
    task_workers("db")
    run = start_run(funded, http_agent(f"{agent_http_server.url}/hold"))
    wait_for(agent_http_server.entered.is_set, 60, "the worker to call the agent")
    with pytest.raises(RunNotCancelable):
        queue.cancel_run(user=funded, run_id=run.pk)
    agent_http_server.release.set()
    run = wait_for(lambda: finished(run), 60, "the run to finish")
    assert run.status == AgentRun.Status.SUCCEEDED
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


def test_cancel_racing_the_worker_has_exactly_one_winner(funded, monkeypatch, transactional_db, settings):
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)  # the race is driven by hand
    from agents.runners import REGISTRY, RunnerSpec

    monkeypatch.setitem(REGISTRY, "http", RunnerSpec("http", "Fast", lambda t, c: "done", queued=True))
    agent = http_agent("http://127.0.0.1:9/")
    for _ in range(4):
        run = start_run(funded, agent)

        def contender(i, run=run):
            if i == 0:
                return queue.execute_queued_run(run_id=run.pk)
            try:
                queue.cancel_run(user=funded, run_id=run.pk)
                return "canceled"
            except RunNotCancelable:
                return "too late"

        worker_result, cancel_result = run_concurrently(contender, 2)
        run.refresh_from_db()
        if cancel_result == "canceled":
            assert worker_result == "skipped" and run.status == AgentRun.Status.FAILED
        else:
            assert cancel_result == "too late" and run.status == AgentRun.Status.SUCCEEDED
    charges, refunds, balance = money_trail(funded)
    assert charges == 4 and balance == Decimal("20.00") - (charges - refunds) * PRICE


# --- a run waiting too long in the queue ---------------------------------------------------------


def test_run_waiting_too_long_is_refunded_and_never_runs(task_workers, agent_http_server, funded):
    task_workers("db", configure_only=True)  # no worker: the run waits
    run = start_run(funded, http_agent(f"{agent_http_server.url}/ok"))
    report = sweep_later()
    assert (report.retried, report.refunded) == (0, 1)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED and run.error_message == queue.QUEUE_EXPIRED
    task_workers("db")  # the worker finally comes up and takes the stale task: it must skip it
    from django_tasks_db.models import DBTaskResult

    wait_for(lambda: not DBTaskResult.objects.filter(status="READY").exists(), 60, "the worker")
    assert agent_http_server.hits == []
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


def test_a_run_whose_runner_is_gone_when_the_worker_takes_it_is_refunded(funded, monkeypatch):
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)
    run = start_run(funded, http_agent("http://127.0.0.1:9/"))
    from agents.runners import REGISTRY

    monkeypatch.delitem(REGISTRY, "http")  # removed by a deploy while the run waited
    assert queue.execute_queued_run(run_id=run.pk) == AgentRun.Status.FAILED
    run.refresh_from_db()
    assert run.error_message == "This agent is misconfigured." and run.was_refunded
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


def test_worker_refunds_a_run_that_waited_past_the_limit(funded, transactional_db, settings, monkeypatch):
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)
    run = start_run(funded, http_agent("http://127.0.0.1:9/"))
    AgentRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    assert queue.execute_queued_run(run_id=run.pk) == "expired"
    assert queue.execute_queued_run(run_id=run.pk) == "skipped"
    assert money_trail(funded) == (1, 1, Decimal("20.00"))


# --- the scheduler -------------------------------------------------------------------------------


def test_scheduler_claims_each_slot_once_across_hosts(db, settings):
    settings.SCHEDULE_RECONCILE_TOPUPS = timedelta(minutes=5)
    settings.SCHEDULE_SWEEP_AGENT_RUNS = None
    settings.SCHEDULE_PRUNE_TASK_RESULTS = None
    settings.SCHEDULE_EXPIRE_CREDITS = None
    now = timezone.now().replace(minute=0, second=10, microsecond=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scheduler, "_enqueue", lambda chore: None)
        assert scheduler.tick(now=now, who="host-a") == ["reconcile_topups"]
        assert scheduler.tick(now=now + timedelta(minutes=1), who="host-b") == []  # same 5-minute slot
        assert scheduler.tick(now=now + timedelta(minutes=5), who="host-b") == ["reconcile_topups"]
    assert ChoreSlot.objects.filter(chore="reconcile_topups").count() == 2


def test_scheduled_reconciliation_credits_a_paid_topup_without_browser_or_cron(
    task_workers, stripe_sandbox, funded, settings
):
    """A 3-D Secure payment completed at Stripe, the browser never came back, no webhook, no cron:
    the scheduler process enqueues the reconciliation and the db worker credits the top-up."""
    from tests.helpers import authenticated_but_unconfirmed

    topup = authenticated_but_unconfirmed(funded, stripe_sandbox, amount="25.00")
    assert topup.status == TopUp.Status.REQUIRES_ACTION
    env = {
        "STRIPE_SANDBOX": "1", "STRIPE_API_BASE": settings.STRIPE_API_BASE,
        "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
        "STRIPE_MAX_NETWORK_RETRIES": "0", "RECONCILE_OLDER_THAN": "0s",
        "SCHEDULE_RECONCILE_TOPUPS": "2s", "SCHEDULE_SWEEP_AGENT_RUNS": "off",
    }
    task_workers("db", env=env, scheduler=True)
    wait_for(lambda: TopUp.objects.get(pk=topup.pk).status == TopUp.Status.SUCCEEDED, 60, "the credit")
    funded.refresh_from_db()
    assert funded.wallet_balance == Decimal("45.00")
    assert WalletTransaction.objects.filter(user=funded, type=TxType.TOP_UP).count() == 1


# --- the pages: 202 and polling, other pages answering meanwhile, cancel, queue down --------------


def post_run(client, agent, text="10.0.0.1"):
    import json

    from django.urls import reverse

    return client.post(
        reverse("agents:use", args=[agent.slug]),
        json.dumps({"input": text, "request_id": str(uuid.uuid4())}), content_type="application/json",
    )


def test_pages_answer_while_a_slow_http_run_is_in_flight(client, task_workers, agent_http_server, funded):
    import time

    task_workers("db")
    client.force_login(funded)
    agent = http_agent(f"{agent_http_server.url}/hold")
    started = time.monotonic()
    answer = post_run(client, agent)
    assert answer.status_code == 202 and time.monotonic() - started < 5
    body = answer.json()
    assert body["status"] == "queued" and body["balance"] == "16.00"
    wait_for(agent_http_server.entered.is_set, 60, "the worker to call the agent")
    # The agent is holding its answer: the site, top-ups included, keeps answering.
    for url in ("/agents/", f"/agents/{agent.slug}/", "/wallet/", "/wallet/history/"):
        started = time.monotonic()
        page = client.get(url)
        assert page.status_code == 200 and time.monotonic() - started < 5, url
    running = client.get(body["status_url"])
    assert running.status_code == 200 and running.json()["status"] == "running"
    assert "Running on a worker" in running.json()["html"] and running.json()["cancel_url"] is None
    # Too late to cancel: a worker has it.
    refused = client.post(body["cancel_url"], "{}", content_type="application/json")
    assert refused.status_code == 409
    agent_http_server.release.set()
    done = wait_for(lambda: (lambda d: d if d["status"] == "succeeded" else None)(
        client.get(body["status_url"]).json()), 60, "the result")
    assert done["output"] == "report for 10.0.0.1" and "report for 10.0.0.1" in done["html"]
    assert money_trail(funded) == (1, 0, Decimal("16.00"))


def test_cancel_from_the_page_refunds_a_queued_run(client, task_workers, funded):
    task_workers("db", configure_only=True)  # queued in the database, no worker
    client.force_login(funded)
    agent = http_agent("http://127.0.0.1:9/")
    body = post_run(client, agent).json()
    assert body["status"] == "queued" and "Cancel and refund" in body["html"]
    page = client.get(f"/agents/{agent.slug}/")
    assert f'data-run-pending="{body["status_url"]}"' in page.content.decode()  # the reopened tab polls it
    canceled = client.post(body["cancel_url"], "{}", content_type="application/json")
    assert canceled.status_code == 200
    data = canceled.json()
    assert data["status"] == "failed" and data["refunded"] is True and data["balance"] == "20.00"
    assert queue.RUN_CANCELED in data["html"]
    assert money_trail(funded) == (1, 1, Decimal("20.00"))
    # Without JavaScript: the form posts and the page comes back with a message.
    second = post_run(client, agent).json()
    response = client.post(second["cancel_url"], follow=True)
    assert response.status_code == 200 and "Run canceled" in response.content.decode()
    assert money_trail(funded) == (2, 2, Decimal("20.00"))


def test_queue_down_the_page_is_told_and_nothing_is_charged(client, task_workers, funded, settings):
    task_workers("rq", configure_only=True)
    settings.RQ_QUEUES = {q: {"URL": "redis://127.0.0.1:1/0"} for q in ("default", "agents")}
    client.force_login(funded)
    answer = post_run(client, http_agent("http://127.0.0.1:9/"))
    assert answer.status_code == 200
    data = answer.json()
    assert data["status"] == "failed" and data["refunded"] is True and data["error"] == queue.QUEUE_UNAVAILABLE
    assert data["balance"] == "20.00"
