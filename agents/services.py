"""
Running a paid agent: exactly one charge per (user, request_id), and a failed run keeps no money.

An inline runner (the built-ins: pure functions of their input, no network) is computed first and
charged after, in ONE transaction:

    1. check   no lock, no transaction: the balance as this request loaded it must cover the price
               (re-read once before refusing), so an empty wallet cannot buy free computation.
    2. run     the pure function, outside any transaction and holding no lock.
    3. record  one transaction: debit exactly the price (the conditional UPDATE refuses to go below
               zero, so a wallet emptied meanwhile answers 402 and the output is discarded) and insert
               the AgentRun already succeeded, with its output and charge row. The unique
               (user, request_id) constraint makes a retried or racing submission lose with an
               IntegrityError, which rolls its debit back; it then answers with the first run.
    A runner that fails is recorded as a failed run with no charge and no refund row (it shows
    in the run list as "not charged"): nothing was taken, so nothing is given back.

A queued runner (one that waits on the network, e.g. `http`) is charged first instead: debit and
a `queued` run in one transaction, handed to a task worker after commit (agents.tasks.execute_run);
the request answers at once. The worker claims the run with a conditional UPDATE queued -> running that
counts the attempt, and records its result only if the run is still running *that* attempt. Every
transition is such a conditional UPDATE, so a task delivered twice, a cancel racing the worker, or
a sweep racing a slow worker each find exactly one winner: a run is retried or refunded, never both.
A queued run that fails gets a compensating AGENT_REFUND credit.

Only wallet.services moves money; this module calls its credit/debit and never writes a balance.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from wallet.exceptions import InsufficientBalance
from wallet.models import BillingSettings, TxType, WalletTransaction
from wallet.services import CENT, credit, debit, lock_user, to_money
from wallet.services.billing import month_start

from .exceptions import (
    AgentUnavailable,
    InputTooLong,
    InvalidAgentInput,
    InvalidRequestId,
    RequestIdReused,
    RunnerError,
    RunNotCancelable,
    SpendLimitReached,
)
from .limits import DEFAULT_MAX_INPUT_CHARS, InputLimits
from .models import Agent, AgentRun
from .runners import REGISTRY

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = DEFAULT_MAX_INPUT_CHARS  # for runners that declare no limits of their own
MAX_OUTPUT_CHARS = 200_000
GENERIC_FAILURE = "The agent could not complete this run."
QUEUE_UNAVAILABLE = "The agent could not be started: our task queue is unavailable. Try again shortly."
QUEUE_EXPIRED = "No worker picked up this run in time."
RUN_LOST = "The agent did not finish this run."
RUN_CANCELED = "You canceled this run."
# A queued run whose worker vanished mid-run is run once more, then refunded.
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class RunOutcome:
    """What run_agent did: the run (fresh from the database) and the balance after it."""

    run: AgentRun
    new_balance: Decimal
    # True when the request id had been used before: nothing was charged by this call.
    duplicate: bool = False


class _AlreadyFinished(Exception):
    """Internal: the run left the charged state before we could refund it (rolls back the refund)."""


def get_active_agent(*, slug: str) -> Agent:
    """The active agent with this slug, or AgentUnavailable."""
    agent = Agent.objects.filter(slug=slug, is_active=True).first()
    if agent is None:
        raise AgentUnavailable(slug)
    return agent


def clean_input(*, text, max_chars: int = MAX_INPUT_CHARS) -> str:
    """Normalise and check the user's input; InvalidAgentInput explains what is wrong."""
    if not isinstance(text, str):
        raise InvalidAgentInput("Enter some text for the agent to analyse.")
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise InvalidAgentInput("Enter some text for the agent to analyse.")
    if len(text) > max_chars:
        # Refused whole, never cut: a truncated input would be charged for a partial analysis.
        raise InputTooLong(length=len(text), limit=max_chars)
    if "\x00" in text:
        raise InvalidAgentInput("The input must be text; it contains binary data.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAgentInput("The input must be valid Unicode text.") from None
    return text


def input_limits(*, agent: Agent) -> InputLimits:
    """The limits of the agent's runner (the defaults for a runner that declares none)."""
    spec = REGISTRY.get(agent.runner)
    return spec.limits if spec is not None else InputLimits()


def prepare_input(*, agent: Agent, text) -> str:
    """The input as the agent's runner will get it, or InvalidAgentInput (InputTooLong past the
    character limit) saying what the agent expects. Runs before the charge: input a runner cannot
    use is refused here, not charged and then refunded."""
    spec = REGISTRY.get(agent.runner)
    if spec is None:
        return clean_input(text=text)
    if isinstance(text, str) and not text.strip() and spec.validate_input is not None:
        # Empty: the runner's own message says what to paste.
        return spec.validate_input("")
    text = clean_input(text=text, max_chars=spec.limits.max_chars)
    return spec.validate_input(text) if spec.validate_input is not None else text


def parse_request_id(value) -> uuid.UUID:
    """The submission's request id as a UUID, or InvalidRequestId."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidRequestId("missing or malformed request_id") from None


def topup_amount_for(*, price: Decimal, balance: Decimal) -> Decimal:
    """What to suggest topping up so `price` is covered: the shortfall, at least the top-up minimum."""
    shortfall = to_money(price) - to_money(balance)
    minimum = Decimal(settings.TOPUP_MIN_AMOUNT).quantize(CENT)
    return max(shortfall, minimum)


def current_balance(*, user) -> Decimal:
    """The balance as stored now (the request's user object may be stale)."""
    User = get_user_model()
    return User.objects.values_list("wallet_balance", flat=True).get(pk=user.pk).quantize(CENT)


def _stored_input(agent: Agent, text: str) -> str:
    spec = REGISTRY.get(agent.runner)
    if spec is not None and spec.sensitive_input:
        return f"[not stored: {len(text):,} characters]"
    return text


def _clean_output(output: str) -> str:
    # PostgreSQL text refuses NUL and lone surrogates; cap the size of what we keep.
    output = output.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    output = output.encode("utf-8", "replace").decode("utf-8")
    if len(output) > MAX_OUTPUT_CHARS:
        output = output[:MAX_OUTPUT_CHARS] + "\n[output truncated]"
    return output


def _first_run(*, user, request_id: uuid.UUID, agent: Agent) -> AgentRun | None:
    run = AgentRun.objects.select_related("agent").filter(user=user, request_id=request_id).first()
    if run is not None and run.agent_id != agent.pk:
        raise RequestIdReused(f"request {request_id} belongs to agent {run.agent_id}")
    return run


def is_queued(agent: Agent) -> bool:
    """Whether this agent's runs go to a task worker (the runner waits on the network)."""
    spec = REGISTRY.get(agent.runner)
    return bool(spec and spec.queued)


def _enqueue(run_id) -> None:
    """Hand a committed queued run to the task queue; if the queue refuses, refund the run now."""
    from .tasks import execute_run  # tasks imports this module

    try:
        execute_run.enqueue(str(run_id))
    except Exception:
        # Redis down, the task table unwritable, ...: the user must not pay for a run nobody will do.
        logger.exception("agent run %s could not be enqueued; refunding it", run_id)
        run = AgentRun.objects.select_related("agent").filter(pk=run_id).first()
        if run is not None:
            _refund(run=run, error_message=QUEUE_UNAVAILABLE, from_status=AgentRun.Status.QUEUED)


def month_spent(*, user_id) -> Decimal:
    """Money spent on agents this calendar month (TIME_ZONE), from the ledger: agent charges minus
    agent refunds written this month. Not from run rows: a run that failed before it was charged
    cost nothing and must not count towards the limit (issue 18, item 15)."""
    total = WalletTransaction.objects.filter(
        user_id=user_id,
        created_at__gte=month_start(),
        type__in=(TxType.AGENT_USAGE, TxType.AGENT_REFUND),
    ).aggregate(total=Sum("amount"))["total"]
    # Debits are negative; a refund this month of last month's run never makes spending negative.
    return max(-(total or Decimal("0")), Decimal("0")).quantize(CENT)


def spend_limit(*, user_id) -> Decimal | None:
    return BillingSettings.objects.filter(pk=user_id).values_list("monthly_spend_limit", flat=True).first()


def check_spend_limit(*, user_id, price: Decimal) -> None:
    """In the charge's transaction: refuse a run that would take the month past the user's limit.

    The user row is locked first (the lock the debit takes next; on SQLite the IMMEDIATE transaction
    already serialises writers), so parallel runs near the limit are counted one after another.
    """
    limit = spend_limit(user_id=user_id)
    if limit is None:
        return
    lock_user(user_id)
    spent = month_spent(user_id=user_id)
    if spent + price > limit:
        raise SpendLimitReached(limit=limit, spent=spent)


def _charge(*, user, agent: Agent, input_text: str, request_id: uuid.UUID) -> tuple[AgentRun, bool]:
    """Debit the price and create the run in one transaction; (run, created).

    No look-up first: a repeated request_id is rare, and the unique (user, request_id) constraint
    turns it into an IntegrityError that rolls the debit back with the rest of the transaction.
    """
    price = to_money(agent.price)
    try:
        with transaction.atomic():
            check_spend_limit(user_id=user.pk, price=price)
            # No savepoint: any error here leaves this transaction, rolling back debit and run.
            entry = debit(
                user=user,
                amount=price,
                type=TxType.AGENT_USAGE,
                description=f"Agent run: {agent.name}",
                savepoint=False,
            )
            queued = is_queued(agent)  # always, from run_agent; kept for legacy "charged" callers
            run = AgentRun.objects.create(
                user=user,
                agent=agent,
                request_id=request_id,
                input=_stored_input(agent, input_text),
                price=price,
                charge_transaction=entry,
                status=AgentRun.Status.QUEUED if queued else AgentRun.Status.CHARGED,
                queued_at=timezone.now() if queued else None,
            )
            if queued:
                # After commit: a worker must never see a run whose charge could still roll back,
                # and a network call to the queue (Redis) must not happen inside this transaction.
                transaction.on_commit(partial(_enqueue, run.pk))
        return run, True
    except IntegrityError:
        # A racing twin committed first; our debit was rolled back with this transaction.
        existing = _first_run(user=user, request_id=request_id, agent=agent)
        if existing is None:
            raise
        return existing, False
    except SpendLimitReached:
        existing = _first_run(user=user, request_id=request_id, agent=agent)
        if existing is not None:
            return existing, False
        raise
    except InsufficientBalance:
        # The debit waited for the twin's lock and then found its money spent: if a twin with
        # this request id committed, that is the answer, not "insufficient balance".
        existing = _first_run(user=user, request_id=request_id, agent=agent)
        if existing is not None:
            return existing, False
        balance = current_balance(user=user)
        raise InsufficientBalance(
            price=price, balance=balance, topup_amount=topup_amount_for(price=price, balance=balance)
        ) from None


def _expected(status: str, attempt: int | None) -> dict[str, object]:
    """The filter a conditional transition of a run needs: its status, and its attempt if given."""
    return {"status": status} if attempt is None else {"status": status, "attempts": attempt}


def _refund(
    *, run: AgentRun, error_message: str, from_status: str = AgentRun.Status.CHARGED,
    attempt: int | None = None,
) -> bool:
    """Compensate a run that failed: an AGENT_REFUND credit and `from_status` -> failed, atomically.

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
    return True


def _execute(
    run: AgentRun, input_text: str, *, from_status: str = AgentRun.Status.CHARGED, attempt: int | None = None
) -> bool:
    """Call the runner (no transaction, no lock) and record its result on the run (in the database
    and on `run`). False if the run had already been finished elsewhere (then `run` is stale)."""
    agent = run.agent
    refund = partial(_refund, run=run, from_status=from_status, attempt=attempt)
    expected = _expected(from_status, attempt)
    try:
        spec = REGISTRY.get(agent.runner)
        if spec is None:
            raise RunnerError(f"unknown runner {agent.runner!r}", user_message="This agent is misconfigured.")
        output = spec(input_text, dict(agent.config or {}))
        if not isinstance(output, str) or not output.strip():
            raise RunnerError(f"runner {agent.runner!r} returned {type(output).__name__}, not text")
    except RunnerError as exc:
        logger.warning("agent run %s (%s) failed: %s", run.pk, agent.slug, exc)
        return refund(error_message=exc.user_message)
    except Exception:
        # A bug in a runner must not keep the user's money: log it, refund, answer generically.
        logger.exception("agent run %s (%s) crashed", run.pk, agent.slug)
        return refund(error_message=GENERIC_FAILURE)
    output, finished_at = _clean_output(output), timezone.now()
    updated = AgentRun.objects.filter(pk=run.pk, **expected).update(
        status=AgentRun.Status.SUCCEEDED, output=output, finished_at=finished_at
    )
    if updated != 1:
        logger.warning("agent run %s finished twice; the second result was dropped", run.pk)
        return False
    run.status, run.output, run.finished_at = AgentRun.Status.SUCCEEDED, output, finished_at
    return True


def refund_stuck_runs(*, older_than: timedelta) -> int:
    """Refund inline runs left "charged" by a crash between charge and record; returns how many."""
    stuck = AgentRun.objects.select_related("agent").filter(
        status=AgentRun.Status.CHARGED, started_at__lt=timezone.now() - older_than
    )
    count = 0
    for run in stuck:
        logger.warning("agent run %s stuck in charged since %s; refunding", run.pk, run.started_at)
        count += _refund(run=run, error_message="The agent did not finish this run.")
    return count


def _insufficient(*, user, agent: Agent, request_id: uuid.UUID, price: Decimal) -> RunOutcome:
    """No money for this run: a duplicate of a run already made is answered with that run;
    anything else is InsufficientBalance (nothing charged, nothing run)."""
    existing = _first_run(user=user, request_id=request_id, agent=agent)
    if existing is not None:
        return RunOutcome(run=existing, new_balance=current_balance(user=user), duplicate=True)
    balance = current_balance(user=user)
    raise InsufficientBalance(
        price=price, balance=balance, topup_amount=topup_amount_for(price=price, balance=balance)
    )


def _compute(agent: Agent, input_text: str) -> tuple[str | None, str]:
    """Call an inline runner (no transaction, no lock): (output, "") or (None, the user's message)."""
    spec = REGISTRY[agent.runner]
    try:
        output = spec(input_text, dict(agent.config or {}))
        if not isinstance(output, str) or not output.strip():
            raise RunnerError(f"runner {agent.runner!r} returned {type(output).__name__}, not text")
    except RunnerError as exc:
        logger.warning("inline run of %s failed: %s", agent.slug, exc)
        return None, exc.user_message
    except Exception:
        # A bug in a runner: log it and answer generically; the user was not charged.
        logger.exception("inline run of %s crashed", agent.slug)
        return None, GENERIC_FAILURE
    return _clean_output(output), ""


def _run_inline(*, user, agent: Agent, input_text: str, request_id: uuid.UUID) -> RunOutcome:
    """Compute, then charge and record in one transaction (see the module docstring)."""
    price = to_money(agent.price)
    # 1. The balance the request loaded (the session's user row, no extra query). A stale object
    # can only be too low here (re-read before refusing) or too high (the debit below refuses).
    balance = getattr(user, "wallet_balance", None)
    if balance is None or balance < price:
        if current_balance(user=user) < price:
            return _insufficient(user=user, agent=agent, request_id=request_id, price=price)
    # 2. The pure function, before any money moves. A retried request id computes again here and
    # then loses on the unique constraint below: CPU only, never a second charge.
    output, error = _compute(agent, input_text)
    stored_input, now = _stored_input(agent, input_text), timezone.now()
    try:
        if output is None:
            # Failed: recorded, not charged (no ledger row). Atomic so that a duplicate's
            # IntegrityError also leaves a caller's enclosing transaction usable.
            with transaction.atomic():
                run = AgentRun.objects.create(
                    user=user, agent=agent, request_id=request_id, input=stored_input, price=price,
                    status=AgentRun.Status.FAILED, error_message=error[:255], finished_at=now,
                )
            return RunOutcome(run=run, new_balance=current_balance(user=user))
        # 3. One transaction, one commit: the debit and the finished run, or neither. The monthly
        # spend limit is checked here, under the user lock the debit takes (SpendLimitReached
        # propagates: the output is discarded and nothing is charged).
        with transaction.atomic():
            check_spend_limit(user_id=user.pk, price=price)
            entry = debit(
                user=user,
                amount=price,
                type=TxType.AGENT_USAGE,
                description=f"Agent run: {agent.name}",
                savepoint=False,
            )
            run = AgentRun.objects.create(
                user=user, agent=agent, request_id=request_id, input=stored_input, price=price,
                charge_transaction=entry, status=AgentRun.Status.SUCCEEDED, output=output, finished_at=now,
            )
    except IntegrityError:
        # A racing twin with this request id committed first; our debit rolled back with us.
        existing = _first_run(user=user, request_id=request_id, agent=agent)
        if existing is None:
            raise
        return RunOutcome(run=existing, new_balance=current_balance(user=user), duplicate=True)
    except SpendLimitReached:
        # A twin with this request id may have used the month's last room: that run is the answer.
        existing = _first_run(user=user, request_id=request_id, agent=agent)
        if existing is None:
            raise
        return RunOutcome(run=existing, new_balance=current_balance(user=user), duplicate=True)
    except InsufficientBalance:
        # The wallet was emptied while we computed (or a twin spent it): the output is discarded.
        return _insufficient(user=user, agent=agent, request_id=request_id, price=price)
    # The ledger row's balance_after is the balance as of this commit: no re-read for the answer.
    return RunOutcome(run=run, new_balance=entry.balance_after)


def run_agent(*, user, agent: Agent, input_text, request_id) -> RunOutcome:
    """Charge the agent's price once per (user, request_id) for a run that succeeds.

    An inline agent is computed first and charged with its recorded result in one transaction; a
    failed inline run is recorded and not charged. A queued agent's run is charged and enqueued
    here: the outcome's run is `queued` (or `failed` and refunded if the queue refused it), and a
    worker finishes it later.

    Raises InvalidAgentInput / InvalidRequestId (nothing charged), InsufficientBalance (nothing
    charged), RequestIdReused (the id belongs to another agent's run). A runner failure is not an
    exception here: the returned run has status failed.
    """
    text = prepare_input(agent=agent, text=input_text)
    rid = parse_request_id(request_id)
    if not agent.is_active or agent.runner not in REGISTRY:
        if agent.runner not in REGISTRY:
            logger.error("agent %s uses unknown runner %r; treated as unavailable", agent.slug, agent.runner)
        raise AgentUnavailable(agent.slug)
    if not is_queued(agent):
        return _run_inline(user=user, agent=agent, input_text=text, request_id=rid)
    run, created = _charge(user=user, agent=agent, input_text=text, request_id=rid)
    # On a first submission the enqueue ran on commit; re-read to see whether the queue refused it
    # (then refunded). A duplicate's run is as stored.
    run = AgentRun.objects.select_related("agent").get(pk=run.pk)
    return RunOutcome(run=run, new_balance=current_balance(user=user), duplicate=not created)


# --- queued runs: the worker's side, canceling, and the sweep ------------------------------------


def execute_queued_run(*, run_id, now=None) -> str:
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
        status=AgentRun.Status.RUNNING, attempts=attempt, claimed_at=now
    )
    if not claimed:
        return "skipped"  # another delivery, a cancel or the sweep got there first
    run.status, run.attempts, run.claimed_at = AgentRun.Status.RUNNING, attempt, now
    if not _execute(run, run.input, from_status=AgentRun.Status.RUNNING, attempt=attempt):
        return "superseded"  # the sweep gave up on this attempt (retried or refunded) meanwhile
    return run.status


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


@dataclass
class SweepReport:
    retried: int = 0
    refunded: int = 0

    def __str__(self):
        return f"{self.retried} queued run(s) retried, {self.refunded} refunded"


def sweep_queued_runs(*, now=None) -> SweepReport:
    """Refund queued runs no worker took in time; retry (once) or refund runs whose worker vanished.

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
    lost = AgentRun.objects.select_related("agent").filter(
        status=AgentRun.Status.RUNNING, claimed_at__lt=now - lost_after
    )
    for run in lost:
        if run.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                requeued = AgentRun.objects.filter(
                    pk=run.pk, status=AgentRun.Status.RUNNING, attempts=run.attempts
                ).update(status=AgentRun.Status.QUEUED, queued_at=now)
                if requeued:
                    transaction.on_commit(partial(_enqueue, run.pk))
            if requeued:
                logger.warning("agent run %s lost its worker (attempt %s); retrying", run.pk, run.attempts)
                report.retried += 1
        else:
            logger.warning("agent run %s lost its worker again (attempt %s); refunding", run.pk, run.attempts)
            report.refunded += _refund(
                run=run, error_message=RUN_LOST, from_status=AgentRun.Status.RUNNING, attempt=run.attempts
            )
    return report
