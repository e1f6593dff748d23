"""The queue of paid runs: hand a charged run to a worker, execute it, cancel it, sweep lost ones.

A queued run (a runner that waits on the network, e.g. `http`) was charged when it was queued
(agents.services). A worker claims it with a conditional UPDATE queued -> running that counts the
attempt, and records its result only if the run is still running *that* attempt. Every transition
is such a conditional UPDATE, so a task delivered twice, a cancel racing the worker, or a sweep
racing a slow worker each find exactly one winner: a run is retried or refunded, never both. A run
that fails, waits too long, is canceled or loses its worker twice gets a compensating AGENT_REFUND.

The worker's task lives here, next to the code that enqueues it (the charge, and the sweep's
retry), so that nothing imports in a circle: agents.services and agents.tasks import this module,
and this module imports neither.

Only wallet.services moves money; this module calls its credit and never writes a balance.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task
from django_tasks.backends.immediate import ImmediateBackend

from wallet.models import TxType
from wallet.services import Return, credit

from .compute import compute
from .exceptions import RunNotCancelable
from .models import AgentRun
from .signals import run_finished

logger = logging.getLogger(__name__)

QUEUE_UNAVAILABLE = "The agent could not be started: our task queue is unavailable. Try again shortly."
QUEUE_EXPIRED = "No worker picked up this run in time."
RUN_LOST = "The agent did not finish this run."
RUN_CANCELED = "You canceled this run."
# A queued run whose worker vanished mid-run is run once more, then refunded.
MAX_ATTEMPTS = 2
# While the runner works, the worker touches the run's heartbeat_at every HEARTBEAT_EVERY; a running
# run whose heartbeat is older than HEARTBEAT_LOST lost its worker (killed, host gone): the sweep
# retries it within a minute, whatever the agent's timeout, instead of after AGENT_RUN_LOST_AFTER.
HEARTBEAT_EVERY = timedelta(seconds=10)
HEARTBEAT_LOST = timedelta(seconds=60)


class _AlreadyFinished(Exception):
    """Internal: the run left the expected state before we could refund it (rolls back the refund)."""


@task(queue_name="agents")
def execute_run(run_id: str) -> str:
    """The worker's task: run one queued (charged) run; a second delivery finds it claimed."""
    # The immediate backend (development, tests) runs the task inside the request that queued it: no
    # worker there can die apart from the request, and no thread is started from a view.
    immediate = isinstance(execute_run.get_backend(), ImmediateBackend)
    return execute_queued_run(run_id=run_id, heartbeat=not immediate)


def enqueue_run(run: AgentRun) -> None:
    """Hand a committed queued run to the task queue; if the queue refuses, refund the run now
    (and `run` says so: the caller answers from it without reading it again).

    Called on commit of the charge (or of the sweep's requeue): a worker must never see a run
    whose charge could still roll back, and a call to the queue (Redis) is a network call that
    must not happen inside a transaction."""
    try:
        execute_run.enqueue(str(run.pk))
    except Exception:
        # Redis down, the task table unwritable, ...: the user must not pay for a run nobody will do.
        logger.exception("agent run %s could not be enqueued; refunding it", run.pk)
        _refund(run=run, error_message=QUEUE_UNAVAILABLE, from_status=AgentRun.Status.QUEUED)


def _expected(status: str, attempt: int | None) -> dict[str, object]:
    """The filter a conditional transition of a run needs: its status, and its attempt if given."""
    return {"status": status} if attempt is None else {"status": status, "attempts": attempt}


def _refund(*, run: AgentRun, error_message: str, from_status: str, attempt: int | None = None) -> bool:
    """Compensate a run: an AGENT_REFUND credit and `from_status` -> failed, atomically.

    False (and nothing written) when the run had already left `from_status` (or, with `attempt`,
    is no longer running that attempt)."""
    expected = _expected(from_status, attempt)
    try:
        with transaction.atomic():
            # Same lock order as the charge: the user row (inside credit) first, then the run.
            entry = credit(
                user=run.user_id,
                amount=run.price,
                type=TxType.AGENT_REFUND,
                description=f"Refund: {run.agent.name} run failed",
                # Back into the lots the charge drew from (issue 23): promotional stays promotional.
                lots=Return(run.charge_transaction_id) if run.charge_transaction_id else None,
            )
            updated = AgentRun.objects.filter(pk=run.pk, **expected).update(
                status=AgentRun.Status.FAILED,
                refund_transaction=entry,
                error_message=error_message[:255],
                finished_at=timezone.now(),
            )
            if updated != 1:
                raise _AlreadyFinished
    except _AlreadyFinished:
        logger.warning("agent run %s had already moved on from %s; no refund written", run.pk, from_status)
        return False
    run.status, run.refund_transaction = AgentRun.Status.FAILED, entry
    run.error_message, run.finished_at = error_message[:255], timezone.now()
    # issue 21: customer webhooks (run.failed / run.canceled) listen above.
    canceled = error_message == RUN_CANCELED
    transaction.on_commit(partial(run_finished.send_robust, sender=AgentRun, run=run, canceled=canceled))
    return True


def execute_queued_run(*, run_id, now=None, heartbeat: bool = True) -> str:
    """Claim a queued run, run it, record the result; what happened, as a word (for the task log).

    Safe to call any number of times for one run: only the call whose claim (queued -> running,
    attempts + 1) succeeds runs the agent, and it records only while the run is still its attempt.
    """
    now = now or timezone.now()
    run = AgentRun.objects.select_related("agent").filter(pk=run_id).first()
    if run is None:
        logger.warning("queued agent run %s does not exist", run_id)
        return "missing"
    if run.status != AgentRun.Status.QUEUED:
        return "skipped"  # delivered twice, canceled, expired or already done
    if run.queued_at and run.queued_at < now - settings.AGENT_QUEUE_MAX_WAIT:
        refunded = _refund(run=run, error_message=QUEUE_EXPIRED, from_status=AgentRun.Status.QUEUED)
        return "expired" if refunded else "skipped"
    attempt = run.attempts + 1
    claimed = AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.QUEUED, attempts=run.attempts).update(
        status=AgentRun.Status.RUNNING, attempts=attempt, claimed_at=now, heartbeat_at=now
    )
    if not claimed:
        return "skipped"  # another delivery, a cancel or the sweep got there first
    # The runner runs outside any transaction and holding no lock: it may wait on the network.
    if heartbeat:
        with _Heartbeat(run.pk, attempt):
            result = compute(agent=run.agent, input_text=run.input, label=str(run.pk))
    else:
        result = compute(agent=run.agent, input_text=run.input, label=str(run.pk))
    running = _expected(AgentRun.Status.RUNNING, attempt)
    if not result.ok:
        refunded = _refund(
            run=run, error_message=result.error, from_status=AgentRun.Status.RUNNING, attempt=attempt
        )
        return AgentRun.Status.FAILED if refunded else "superseded"
    updated = AgentRun.objects.filter(pk=run.pk, **running).update(
        status=AgentRun.Status.SUCCEEDED, output=result.output, report=result.report,
        finished_at=timezone.now(),
    )
    if updated != 1:
        # The sweep gave up on this attempt (retried or refunded) meanwhile: the late result is dropped.
        logger.warning("agent run %s attempt %s finished after it was superseded; dropped", run.pk, attempt)
        return "superseded"
    run.status, run.output, run.report = AgentRun.Status.SUCCEEDED, result.output, result.report
    # issue 21: customer webhooks (run.succeeded) listen above.
    transaction.on_commit(partial(run_finished.send_robust, sender=AgentRun, run=run, canceled=False))
    return AgentRun.Status.SUCCEEDED


def cancel_run(*, user, run_id) -> AgentRun:
    """Cancel one of the user's queued runs and refund it; RunNotCancelable once a worker has it."""
    run = AgentRun.objects.select_related("agent").filter(pk=run_id, user=user).first()
    if run is None:
        raise RunNotCancelable("no such run")
    if run.status != AgentRun.Status.QUEUED or not _refund(
        run=run, error_message=RUN_CANCELED, from_status=AgentRun.Status.QUEUED
    ):
        raise RunNotCancelable(f"run {run.pk} is no longer queued")
    return run


class _Heartbeat:
    """A thread inside the worker's task (never a view) that touches the run while its runner works.

    It writes only while the run is still running *this* attempt, so a beat can never revive a run
    the sweep or a cancel moved on; it stops on exit of the block, or by itself once superseded."""

    def __init__(self, run_id, attempt: int):
        self.run_id, self.attempt = run_id, attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
                try:
                    alive = AgentRun.objects.filter(
                        pk=self.run_id, **_expected(AgentRun.Status.RUNNING, self.attempt)
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    # A database blip: the next beat may pass; too many missed and the sweep retries.
                    logger.warning("agent run %s: heartbeat not written", self.run_id, exc_info=True)
                    continue
                if not alive:
                    return  # superseded or canceled: nothing left to keep alive
        finally:
            connection.close()  # this thread's own connection


@dataclass
class SweepReport:
    retried: int = 0
    refunded: int = 0

    def __str__(self):
        return f"{self.retried} queued run(s) retried, {self.refunded} refunded"


def sweep_queued_runs(*, now=None) -> SweepReport:
    """Refund queued runs no worker took in time; retry (once) or refund runs whose worker vanished
    (no heartbeat for HEARTBEAT_LOST, or running for longer than AGENT_RUN_LOST_AFTER).

    Safe on several hosts at once: each transition is a conditional UPDATE on (status, attempts).
    """
    now = now or timezone.now()
    report = SweepReport()
    max_wait = settings.AGENT_QUEUE_MAX_WAIT
    lost_after = settings.AGENT_RUN_LOST_AFTER
    waiting = AgentRun.objects.select_related("agent").filter(
        status=AgentRun.Status.QUEUED, queued_at__lt=now - max_wait
    )
    for run in waiting:
        logger.warning("agent run %s waited in the queue since %s; refunding", run.pk, run.queued_at)
        report.refunded += _refund(run=run, error_message=QUEUE_EXPIRED, from_status=AgentRun.Status.QUEUED)
    # Lost: its heartbeat stopped (the worker died), or it has run for longer than anyone waits.
    # A run claimed before heartbeats existed (heartbeat_at empty) has only the second rule.
    lost = AgentRun.objects.select_related("agent").filter(
        Q(heartbeat_at__lt=now - HEARTBEAT_LOST) | Q(claimed_at__lt=now - lost_after),
        status=AgentRun.Status.RUNNING,
    )
    for run in lost:
        if run.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                requeued = AgentRun.objects.filter(
                    pk=run.pk, status=AgentRun.Status.RUNNING, attempts=run.attempts
                ).update(status=AgentRun.Status.QUEUED, queued_at=now)
                if requeued:
                    transaction.on_commit(partial(enqueue_run, run))
            if requeued:
                logger.warning("agent run %s lost its worker (attempt %s); retrying", run.pk, run.attempts)
                report.retried += 1
        else:
            logger.warning("agent run %s lost its worker again (attempt %s); refunding", run.pk, run.attempts)
            report.refunded += _refund(
                run=run, error_message=RUN_LOST, from_status=AgentRun.Status.RUNNING, attempt=run.attempts
            )
    return report


def refund_stuck_runs(*, older_than: timedelta) -> int:
    """Refund runs left "charged" by a crash between charge and record; returns how many.

    No run is written "charged" any more (an inline run is charged and recorded in one commit):
    this sweeps the rows written before that change."""
    stuck = AgentRun.objects.select_related("agent").filter(
        status=AgentRun.Status.CHARGED, started_at__lt=timezone.now() - older_than
    )
    count = 0
    for run in stuck:
        logger.warning("agent run %s stuck in charged since %s; refunding", run.pk, run.started_at)
        count += _refund(run=run, error_message=RUN_LOST, from_status=AgentRun.Status.CHARGED)
    return count
