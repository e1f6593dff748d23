"""/api/v1/: the versioned JSON API (issue 21), built with django-ninja.

Every endpoint is a thin door onto the SAME services as the pages (agents.services.run_agent,
agents.queue.cancel_run, wallet.history), so spend limits, the key's cap, holds and every money
rule apply identically; what is added here is key authentication, scopes, Idempotency-Key and
problem+json answers.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Header, NinjaAPI, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError

from agents import queue, services
from agents.caps import key_month_spent
from agents.models import Agent, AgentRun
from authentication.api_keys import MissingScope
from authentication.models import ApiKey, ApiKeyScope
from netcop_hub.errors import DomainError
from wallet.history import decode_cursor, encode_cursor, filtered_ledger
from wallet.models import FILTER_TYPES, ledger_kind

from .auth import ApiKeyAuth, require
from .credits import router as credits_router
from .documents import router as documents_router
from .models import IdempotencyKey
from .params import ERRORS, MAX_PAGE_SIZE, PAGE_SIZE, Day, clamp_day
from .problems import (
    PROBLEM_JSON,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    NotFound,
    domain_problem,
    problem_response,
)
from .schemas import (
    AgentOut,
    BalanceOut,
    PingOut,
    Problem,
    RunIn,
    RunOut,
    RunPage,
    RunStatus,
    TransactionOut,
    TransactionPage,
)


class ProblemNinjaAPI(NinjaAPI):
    """The document says what the API sends: errors as application/problem+json."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        return schema


api = ProblemNinjaAPI(
    title="NetCop Wallet API",
    version="1.0.0",
    description=(
        "Run NetCop agents, read your wallet and download your invoices with an API key "
        "(header Authorization: Bearer ncw_live_…, "
        "created at /accounts/api-keys/). Money is a decimal string in the wallet's currency "
        f"({settings.WALLET_CURRENCY}). Errors are RFC 9457 application/problem+json with a stable code."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
    docs_url=None,  # the docs page is ours (api.views.docs), served from our own static files
)
api.add_router("/documents", documents_router)
api.add_router("/promo-codes", credits_router)


# --- errors: one shape for everything --------------------------------------------------------------


@api.exception_handler(DomainError)
def _domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return domain_problem(request, exc)


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Where and what, never the value sent (it may be a secret).
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors
    ]
    return problem_response(
        request, status=422, code="invalid_request",
        detail="The request does not match the API's schema.", errors=errors,
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        request, status=401, code="invalid_api_key", detail="Send the key as `Authorization: Bearer <key>`."
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem_response(request, status=exc.status_code, code="bad_request", detail="Bad request.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, status=404, code="not_found", detail="No such resource.")


# --- helpers ---------------------------------------------------------------------------------------


def _money(value) -> str:
    return f"{value:.2f}"


def _key_label(key) -> str | None:
    return f"{key.name} ({key.prefix}…)" if key is not None else None


def _run_out(run: AgentRun) -> RunOut:
    refunded = run.refund_transaction_id is not None
    charged = run.charge_transaction_id is not None and not refunded
    return RunOut(
        id=run.id,
        agent=run.agent.slug,
        status=cast(RunStatus, run.status),
        price=_money(run.price),
        charged=_money(run.price if charged else 0),
        refunded=refunded,
        output=run.output if run.status == AgentRun.Status.SUCCEEDED else "",
        report=run.report if run.status == AgentRun.Status.SUCCEEDED else None,
        error=run.error_message,
        started_at=run.started_at,
        finished_at=run.finished_at,
        api_key=_key_label(run.api_key),
        status_url=reverse("api-v1:get_run", args=[run.id]),
        cancel_url=(
            reverse("api-v1:cancel_run", args=[run.id]) if run.status == AgentRun.Status.QUEUED else None
        ),
    )


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.body):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _request_id(request: HttpRequest, user, header: str | None) -> uuid.UUID:
    """The run's request id: fresh without an Idempotency-Key; with one, the id it was first bound
    to (the run's unique (user, request_id) then makes a retry or a racing twin the same run, one
    charge), refusing the same header with another request."""
    if header is None:
        return uuid.uuid4()
    if not 1 <= len(header) <= 255 or not header.isascii() or not header.isprintable():
        raise InvalidIdempotencyKey()
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(user=user, key=header, fingerprint=fingerprint)
    except IntegrityError:
        # A twin inserted it first (or this is a retry): its request id is ours.
        record = IdempotencyKey.objects.get(user=user, key=header)
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return record.request_id


# The filters' values, as patterns (the document lists them; anything else is a 422).
TX_TYPES = "^(" + "|".join(re.escape(v) for v, _ in FILTER_TYPES) + ")$"
TX_TYPES_TEXT = "One of: " + ", ".join(v for v, _ in FILTER_TYPES) + "."
RUN_STATUSES = "^(" + "|".join(AgentRun.Status.values) + ")$"


# --- endpoints -------------------------------------------------------------------------------------


@api.get("/ping", response={200: PingOut, **ERRORS}, summary="Check a key (no scope needed)")
def ping(request: HttpRequest):
    """The same key authentication as every endpoint and nothing else (the bench's no-op)."""
    key = request.auth  # type: ignore[attr-defined]
    return PingOut(ok=True, key=key.prefix)


@api.get("/balance", response={200: BalanceOut, **ERRORS}, summary="Balance, spending and limits")
def balance(request: HttpRequest):
    key = require(request, ApiKeyScope.WALLET_READ)
    user = key.user
    limit = services.spend_limit(user_id=user.pk)
    return BalanceOut(
        balance=_money(services.current_balance(user=user)),
        currency=settings.WALLET_CURRENCY,
        month_spent=_money(services.month_spent(user_id=user.pk)),
        spend_limit=None if limit is None else _money(limit),
        key_month_spent=_money(key_month_spent(api_key_id=key.pk)),
        key_cap=None if key.monthly_cap is None else _money(key.monthly_cap),
        on_hold=user.is_on_hold,
    )


@api.get("/agents", response={200: list[AgentOut], **ERRORS}, summary="The agents and their prices")
def agents(request: HttpRequest):
    return [
        AgentOut(
            slug=a.slug, name=a.name, description=a.description, price=_money(a.price),
            queued=services.is_queued(a), input_label=a.input_label,
            max_input_chars=services.input_limits(agent=a).max_chars,
        )
        for a in Agent.objects.filter(is_active=True)
    ]


@api.get("/transactions", response={200: TransactionPage, **ERRORS}, summary="Ledger rows, newest first")
def transactions(
    request: HttpRequest,
    type: str | None = Query(None, pattern=TX_TYPES, description=TX_TYPES_TEXT),  # noqa: A002, B008
    date_from: Day | None = Query(None, alias="from", description="First day, inclusive."),  # noqa: B008
    date_to: Day | None = Query(None, alias="to", description="Last day, inclusive."),  # noqa: B008
    cursor: str | None = None,
    limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),  # noqa: B008
):
    key = require(request, ApiKeyScope.HISTORY_READ)
    filters = {"type": type, "date_from": clamp_day(date_from), "date_to": clamp_day(date_to)}
    qs = filtered_ledger(key.user, filters)
    position = decode_cursor(cursor)
    if position is not None:
        when, pk = position
        qs = qs.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=pk))
    rows = list(qs.select_related("api_key").order_by("-created_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        TransactionOut(
            id=r.id, created_at=r.created_at, description=r.description,
            type=ledger_kind(r.type, r.amount, r.description),
            amount=_money(r.amount), balance_after=_money(r.balance_after), api_key=_key_label(r.api_key),
        )
        for r in rows
    ]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].pk) if more and rows else None
    return TransactionPage(items=items, next_cursor=next_cursor)


@api.get("/runs", response={200: RunPage, **ERRORS}, summary="Agent runs, newest first")
def runs(
    request: HttpRequest,
    agent: str | None = Query(None, description="An agent's slug."),  # noqa: B008
    status: str | None = Query(None, pattern=RUN_STATUSES),  # noqa: B008
    cursor: str | None = None,
    limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),  # noqa: B008
):
    key = require(request, ApiKeyScope.HISTORY_READ)
    qs = AgentRun.objects.filter(user=key.user).select_related("agent", "api_key")
    if agent:
        qs = qs.filter(agent__slug=agent)
    if status:
        qs = qs.filter(status=status)
    position = decode_cursor(cursor)
    if position is not None:
        when, pk = position
        qs = qs.filter(Q(started_at__lt=when) | Q(started_at=when, id__lt=pk))
    rows = list(qs.order_by("-started_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].started_at, rows[-1].pk) if more and rows else None
    return RunPage(items=[_run_out(r) for r in rows], next_cursor=next_cursor)


@api.post(
    "/agents/{slug}/runs",
    response={200: RunOut, 202: RunOut, 402: Problem, 409: Problem, 413: Problem, **ERRORS},
    summary="Run an agent (charged once per Idempotency-Key)",
)
def create_run(
    request: HttpRequest,
    slug: str,
    payload: RunIn,
    response: HttpResponse,
    idempotency_key: str | None = Header(  # noqa: B008
        None, alias="Idempotency-Key", description="Any unique string (e.g. a UUID) per logical request.",
    ),
):
    """Inline agents answer 200 with the result; queued ones 202 with a Location header to poll.
    The same Idempotency-Key and body answer the same run (charged once); the same key with
    another body is refused (422 idempotency_key_reused)."""
    key = require(request, ApiKeyScope.AGENTS_RUN)
    user = key.user
    agent = services.get_active_agent(slug=slug, user=user)
    request_id = _request_id(request, user, idempotency_key)
    outcome = services.run_agent(
        user=user, agent=agent, input_text=payload.input, request_id=request_id, api_key=key
    )
    run = outcome.run
    run.api_key = run.api_key if run.api_key_id != key.pk else key
    body = _run_out(run)
    if outcome.duplicate:
        # The answer to an earlier request with this Idempotency-Key: nothing was charged now.
        response["Idempotent-Replayed"] = "true"
    if run.is_finished:
        return Status(200, body)
    response["Location"] = body.status_url
    return Status(202, body)


@api.get("/runs/{run_id}", response={200: RunOut, **ERRORS}, summary="One run (poll a queued run)")
def get_run(request: HttpRequest, run_id: uuid.UUID):
    """A key with history:read reads any of the account's runs; a key with only agents:run reads the
    runs it started itself, so it can poll the Location header of its own 202 answer."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    found = AgentRun.objects.select_related("agent", "api_key").filter(pk=run_id, user=key.user)
    if not key.has_scope(ApiKeyScope.HISTORY_READ):
        if not key.has_scope(ApiKeyScope.AGENTS_RUN):
            raise MissingScope(ApiKeyScope.HISTORY_READ)
        found = found.filter(api_key=key)
    run = found.first()
    if run is None:
        raise NotFound(user_message="No such run.")
    return _run_out(run)


@api.post(
    "/runs/{run_id}/cancel", response={200: RunOut, 409: Problem, **ERRORS}, summary="Cancel a queued run"
)
def cancel_run(request: HttpRequest, run_id: uuid.UUID):
    key = require(request, ApiKeyScope.AGENTS_RUN)
    if not AgentRun.objects.filter(pk=run_id, user=key.user).exists():
        raise NotFound(user_message="No such run.")
    run = queue.cancel_run(user=key.user, run_id=run_id)
    run = AgentRun.objects.select_related("agent", "api_key").get(pk=run.pk)
    return _run_out(run)


def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other address under /api/: a problem+json 404, not the site's HTML page."""
    return problem_response(request, status=404, code="not_found", detail="No such endpoint.")
