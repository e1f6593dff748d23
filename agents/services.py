"""
Paid runs: exactly one charge per (user, request_id), and a failed run keeps no money.

Every paid run is charged and recorded in ONE transaction of the same shape (`_charge`): under the
user's row lock, check the monthly spend limit, debit exactly the price (the conditional UPDATE
refuses to go below zero) and insert the run with its charge row. The unique (user, request_id)
constraint makes a retried or racing submission lose with an IntegrityError, which rolls its debit
back; it then answers with the first run. What differs is when the work is done:

    inline  (the built-ins: pure functions of their input, no network) computed first, outside any
            transaction and holding no lock, after checking that the balance the request loaded
            covers the price (re-read once before refusing), so an empty wallet cannot buy free
            computation. The transaction then records the run already succeeded, with its report.
            A runner that fails is recorded as a failed run with no charge and no refund row.
    queued  (a runner that waits on the network, e.g. `http`) the transaction records the run
            `queued` and, after commit, hands it to agents.queue, which runs it on a worker and
            refunds it if it fails, waits too long or is canceled.

Only wallet.services moves money; this module calls its debit and never writes a balance.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.urls import reverse
from django.utils import timezone

from netcop_hub.db import prepared_cursor
from wallet.exceptions import AccountOwesMoney, InsufficientBalance
from wallet.models import BillingSettings, OwedBalance, TxType
from wallet.return_targets import ReturnTarget
from wallet.services import CENT, billing, debit, holds, lock_user, to_money

from . import queue
from .caps import check_key_cap
from .compute import compute
from .exceptions import (
    AgentUnavailable,
    InputTooLong,
    InvalidAgentInput,
    InvalidRequestId,
    KeyCapReached,
    RequestIdReused,
    SpendLimitReached,
)
from .limits import DEFAULT_MAX_INPUT_CHARS, InputLimits
from .models import Agent, AgentRun
from .runners import REGISTRY
from .signals import run_finished

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = DEFAULT_MAX_INPUT_CHARS  # for runners that declare no limits of their own


@dataclass(frozen=True)
class RunOutcome:
    """What run_agent did: the run and the balance after it."""

    run: AgentRun
    new_balance: Decimal
    # True when the request id had been used before: nothing was charged by this call.
    duplicate: bool = False


# The agent and the monthly spend limit of the user about to run it, in one statement. Plain SQL:
# building the ORM's query with its subquery took three times the Python work of sending this one
# (2,300 function calls against 700 per run, measured for issue 19), and RawQuerySet's per-call set-up
# (column map, converters) was still half of what remained: built once here (issue 19, H-speed).
# The limit comes back as text on every database (SQLite would hand a bare column expression back
# as a float). Only names from the models' metadata are formatted in; every value is a parameter.
_AGENT_ATTNAMES = tuple(f.attname for f in Agent._meta.concrete_fields)


@lru_cache(maxsize=1)
def _agent_with_spend_limit() -> tuple[str, list[tuple[int, Any, list]]]:
    quote = connection.ops.quote_name
    fields = Agent._meta.concrete_fields
    sql = (
        f"SELECT {', '.join('a.' + quote(f.column) for f in fields)}, "  # noqa: S608  # nosec B608
        f"CAST((SELECT b.monthly_spend_limit FROM {quote(BillingSettings._meta.db_table)} b"
        " WHERE b.user_id = %s) AS TEXT), "
        # Issue 20: what the user owes after a dispute (runs are refused while anything is owed).
        f"CAST((SELECT o.amount FROM {quote(OwedBalance._meta.db_table)} o WHERE o.user_id = %s) AS TEXT)"
        f" FROM {quote(Agent._meta.db_table)} a WHERE a.slug = %s AND a.is_active = %s"
    )
    # What the ORM applies to each column read (e.g. the JSON config's decoding), per column.
    converters = []
    for i, f in enumerate(fields):
        col = f.get_col(Agent._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((i, col, found))
    return sql, converters


def _read_agent_with_spend_limit(*, slug: str, user_id) -> tuple[Agent, str | None, str | None] | None:
    sql, converters = _agent_with_spend_limit()
    with prepared_cursor() as cursor:  # planned once per connection (netcop_hub.db)
        cursor.execute(sql, [user_id, user_id, slug, True])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[:-2])
    for i, col, found in converters:
        for converter in found:
            values[i] = converter(values[i], col, connection)
    return Agent.from_db(connection.alias, _AGENT_ATTNAMES, values), row[-2], row[-1]


def get_active_agent(*, slug: str, user=None) -> Agent:
    """The active agent with this slug, or AgentUnavailable.

    Given the user about to run it, the same statement reads their monthly spend limit, and
    run_agent checks it without reading it again: one statement fewer on every run (issue 19).
    Read a moment before the charge's transaction rather than inside it, which changes nothing:
    the limit was never read under a lock (the month's total is, in check_spend_limit)."""
    if user is None:
        agent = Agent.objects.filter(slug=slug, is_active=True).first()
        if agent is None:
            raise AgentUnavailable(slug)
        return agent
    found = _read_agent_with_spend_limit(slug=slug, user_id=user.pk)
    if found is None:
        raise AgentUnavailable(slug)
    agent, limit, owed = found
    agent.spend_limit_reader = user.pk
    agent.owner_spend_limit = None if limit is None else to_money(limit)
    agent.owner_owed = to_money(owed or 0)
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


def _first_run(*, user, request_id: uuid.UUID, agent: Agent) -> AgentRun | None:
    run = AgentRun.objects.select_related("agent").filter(user=user, request_id=request_id).first()
    if run is not None and run.agent_id != agent.pk:
        raise RequestIdReused(f"request {request_id} belongs to agent {run.agent_id}")
    return run


def is_queued(agent: Agent) -> bool:
    """Whether this agent's runs go to a task worker (the runner waits on the network)."""
    spec = REGISTRY.get(agent.runner)
    return bool(spec and spec.queued)


def month_spent(*, user_id) -> Decimal:
    """Agent charges this calendar month (TIME_ZONE), minus agent refunds: the wallet's ledger figure.
    Not from run rows: a run that failed before it was charged cost nothing and must not count
    towards the limit (issue 18, item 15)."""
    return billing.month_spent(user_id=user_id)


def spend_limit(*, user_id) -> Decimal | None:
    return BillingSettings.objects.filter(pk=user_id).values_list("monthly_spend_limit", flat=True).first()


def spend_limit_for(*, agent: Agent, user_id) -> Decimal | None:
    """The user's limit as get_active_agent read it with the agent, else read now."""
    if agent.spend_limit_reader is not None and agent.spend_limit_reader == user_id:
        return agent.owner_spend_limit
    return spend_limit(user_id=user_id)


def check_spend_limit(*, user_id, price: Decimal, limit: Decimal | None) -> None:
    """In the charge's transaction: refuse a run that would take the month past the user's limit.

    The user row is locked first (the lock the debit takes next; on SQLite the IMMEDIATE transaction
    already serialises writers), so parallel runs near the limit are counted one after another.
    """
    if limit is None:
        return
    lock_user(user_id)
    spent = month_spent(user_id=user_id)
    if spent + price > limit:
        raise SpendLimitReached(limit=limit, spent=spent)


def _duplicate(*, user, agent: Agent, request_id: uuid.UUID) -> RunOutcome | None:
    """The answer to a submission whose request id already has a run (nothing charged by this call)."""
    existing = _first_run(user=user, request_id=request_id, agent=agent)
    if existing is None:
        return None
    return RunOutcome(run=existing, new_balance=current_balance(user=user), duplicate=True)


def _insufficient(*, user, agent: Agent, request_id: uuid.UUID, price: Decimal) -> RunOutcome:
    """No money for this run: a duplicate of a run already made is answered with that run;
    anything else is InsufficientBalance (nothing charged, nothing run)."""
    outcome = _duplicate(user=user, agent=agent, request_id=request_id)
    if outcome is not None:
        return outcome
    balance = current_balance(user=user)
    raise InsufficientBalance(
        price=price, balance=balance, topup_amount=topup_amount_for(price=price, balance=balance)
    )


@lru_cache(maxsize=1)
def _pg_run_insert() -> tuple[str, list[Field]]:
    """PostgreSQL: the run's INSERT, built once from the model's metadata (quoted names, every value a
    parameter). Sent while the user's row is locked by the debit, so the less Python before it, the
    shorter every other change to that wallet waits: compiling the ORM's INSERT for this 20-column
    row was the largest piece of Python in a paid run (issue 19)."""
    quote = connection.ops.quote_name
    fields = list(AgentRun._meta.concrete_fields)
    insert = (
        f"INSERT INTO {quote(AgentRun._meta.db_table)} "  # noqa: S608 # nosec B608
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return insert, fields


def _insert_run(run: AgentRun) -> AgentRun:
    """Insert a new run (what `save(force_insert=True)` does; no signal listens to runs). A repeated
    (user, request_id) raises IntegrityError, as through the ORM."""
    if connection.vendor != "postgresql":
        run.save(force_insert=True)
        return run
    insert, fields = _pg_run_insert()
    # pre_save fills auto_now_add (started_at) on the object, as the ORM's insert does.
    values = [f.get_db_prep_save(f.pre_save(run, add=True), connection) for f in fields]
    with prepared_cursor() as cursor:  # planned once per connection (netcop_hub.db)
        cursor.execute(insert, values)
    run._state.adding, run._state.db = False, connection.alias
    return run


def _charge(
    *, user, agent: Agent, request_id: uuid.UUID, price: Decimal, api_key=None, **run_fields
) -> RunOutcome:
    """The one transaction of every paid run: spend limit, debit and the run row, or none of them.

    No look-up first: a repeated request_id is rare, and the unique (user, request_id) constraint
    turns it into an IntegrityError that rolls the debit back with the rest of the transaction.
    A queued run is handed to the queue on commit."""
    try:
        with transaction.atomic():
            # The month's spending is summed under the user's row lock, the lock the debit takes
            # next (SpendLimitReached propagates: nothing charged).
            limit = spend_limit_for(agent=agent, user_id=user.pk)
            check_spend_limit(user_id=user.pk, price=price, limit=limit)
            check_key_cap(user_id=user.pk, api_key=api_key, price=price)
            # No savepoint: any error here leaves this transaction, rolling back debit and run.
            entry = debit(
                user=user,
                amount=price,
                type=TxType.AGENT_USAGE,
                description=f"Agent run: {agent.name}",
                savepoint=False,
                api_key_id=getattr(api_key, "pk", None),
            )
            run = _insert_run(
                AgentRun(
                    user=user, agent=agent, request_id=request_id, price=price, charge_transaction=entry,
                    api_key=api_key, **run_fields,
                )
            )
            if run.status == AgentRun.Status.QUEUED:
                # After commit: a worker must never see a run whose charge could still roll back,
                # and a network call to the queue (Redis) must not happen inside this transaction.
                transaction.on_commit(partial(queue.enqueue_run, run))
    except IntegrityError:
        # A racing twin with this request id committed first; our debit rolled back with us.
        outcome = _duplicate(user=user, agent=agent, request_id=request_id)
        if outcome is None:
            raise
        return outcome
    except (SpendLimitReached, KeyCapReached):
        # A twin with this request id may have used the month's last room: that run is the answer.
        outcome = _duplicate(user=user, agent=agent, request_id=request_id)
        if outcome is None:
            raise
        return outcome
    except InsufficientBalance:
        # The wallet was emptied meanwhile (or a twin with this request id spent it): if the twin
        # committed, its run is the answer, not "insufficient balance".
        return _insufficient(user=user, agent=agent, request_id=request_id, price=price)
    # The ledger row's balance_after is the balance as of this commit: no re-read for the answer.
    return RunOutcome(run=run, new_balance=entry.balance_after)


def _run_inline(*, user, agent: Agent, input_text: str, request_id: uuid.UUID, api_key=None) -> RunOutcome:
    """Compute, then charge and record in one transaction (see the module docstring)."""
    price = to_money(agent.price)
    # 1. The balance the request loaded (the session's user row, no extra query). A stale object
    # can only be too low here (re-read before refusing) or too high (the debit refuses).
    balance = getattr(user, "wallet_balance", None)
    if balance is None or balance < price:
        if current_balance(user=user) < price:
            return _insufficient(user=user, agent=agent, request_id=request_id, price=price)
    # 2. The pure function, before any money moves. A retried request id computes again here and
    # then loses on the unique constraint: CPU only, never a second charge.
    result = compute(agent=agent, input_text=input_text)
    stored_input, now = _stored_input(agent, input_text), timezone.now()
    if not result.ok:
        # Failed: recorded, not charged (no ledger row). Atomic so that a duplicate's
        # IntegrityError also leaves a caller's enclosing transaction usable.
        try:
            with transaction.atomic():
                run = AgentRun.objects.create(
                    user=user, agent=agent, request_id=request_id, input=stored_input, price=price,
                    api_key=api_key, status=AgentRun.Status.FAILED, error_message=result.error[:255],
                    finished_at=now,
                )
        except IntegrityError:
            outcome = _duplicate(user=user, agent=agent, request_id=request_id)
            if outcome is None:
                raise
            return outcome
        return RunOutcome(run=run, new_balance=current_balance(user=user))
    # 3. One transaction, one commit: the debit and the finished run, or neither.
    return _charge(
        user=user, agent=agent, request_id=request_id, price=price, input=stored_input, api_key=api_key,
        status=AgentRun.Status.SUCCEEDED, output=result.output, report=result.report, finished_at=now,
    )


def _run_queued(*, user, agent: Agent, input_text: str, request_id: uuid.UUID, api_key=None) -> RunOutcome:
    """Charge and record the run `queued`; the queue runs it after commit (see the module docstring)."""
    outcome = _charge(
        user=user, agent=agent, request_id=request_id, price=to_money(agent.price), api_key=api_key,
        input=_stored_input(agent, input_text), status=AgentRun.Status.QUEUED, queued_at=timezone.now(),
    )
    if outcome.run.was_refunded and not outcome.duplicate:
        # The queue refused the run on commit and enqueue_run refunded it (on this very object).
        return RunOutcome(run=outcome.run, new_balance=current_balance(user=user))
    return outcome


def run_agent(*, user, agent: Agent, input_text, request_id, api_key=None) -> RunOutcome:
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
    _check_standing(user=user, agent=agent)
    if is_queued(agent):
        return _run_queued(user=user, agent=agent, input_text=text, request_id=rid, api_key=api_key)
    outcome = _run_inline(user=user, agent=agent, input_text=text, request_id=rid, api_key=api_key)
    if not outcome.duplicate:
        # issue 21: customer webhooks (run.succeeded / run.failed) listen above.
        finished = partial(run_finished.send_robust, sender=AgentRun, run=outcome.run, canceled=False)
        transaction.on_commit(finished)
    return outcome


def _check_standing(*, user, agent: Agent) -> None:
    """Issue 20: a held account (the request's own user row) or one that owes money after a dispute
    (read with the agent by get_active_agent) runs nothing. Otherwise one query reads both."""
    if agent.spend_limit_reader is None or agent.spend_limit_reader != user.pk:
        holds.ensure_can_spend(user=user)
        return
    if getattr(user, "held_at", None) is not None:
        holds.ensure_not_held(user=user)  # raises with the reason, read fresh
    if agent.owner_owed:
        raise AccountOwesMoney(owed=agent.owner_owed)


def agent_return_target(kwargs) -> ReturnTarget | None:
    """The wallet's "back to the agent" link: an active agent's page named by `?next=` (registered with
    wallet.return_targets in AgentsConfig.ready(); the wallet cannot import agents)."""
    agent = Agent.objects.filter(slug=kwargs.get("slug"), is_active=True).first()
    if agent is None:
        return None
    return ReturnTarget(name=agent.name, price=agent.price, url=reverse("agents:detail", args=[agent.slug]))
