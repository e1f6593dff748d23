"""Agent pages and the paid "use" endpoint. Views are thin: parse, call agents.services, render."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.context_processors import csrf
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from netcop_hub import http
from netcop_hub.errors import DomainError, NotAuthenticated
from wallet.exceptions import InsufficientBalance
from wallet.templatetags.money import money

from . import queue, services
from .exceptions import (
    RAISE_LIMIT,
    AgentUnavailable,
    InvalidAgentInput,
    InvalidRequestId,
    RunNotCancelable,
    SpendLimitReached,
)
from .models import Agent, AgentRun

logger = logging.getLogger(__name__)

RECENT_RUNS = 10
RUNS_PER_PAGE = 25
LOG_IN = "Log in to use agents."
BAD_BODY = "The request body must be a JSON object with input and request_id."


def _topup_url(amount: Decimal, slug: str | None = None) -> str:
    """The wallet page with the amount filled in and, from an agent, the way back to it (`next`;
    the wallet page validates it before linking to it)."""
    query = {"amount": f"{amount:.2f}"}
    if slug:
        query["next"] = reverse("agents:detail", args=[slug])
    return f"{reverse('wallet:topup')}?{urlencode(query, safe='/')}"


def _topup_label(amount: Decimal, agent: Agent) -> str:
    return f"Top up {money(amount)} to run {agent.name}"


def _balance_fields(request) -> dict:
    """The balance as stored now, for every JSON answer that knows the user (the page's nav)."""
    if not request.user.is_authenticated:
        return {}
    balance = services.current_balance(user=request.user)
    return {"balance": f"{balance:.2f}", "balance_display": money(balance)}


def _topup_fields(exc: DomainError, slug: str) -> dict:
    """For a refusal for balance: the top-up link comes back to this agent, and says so."""
    if not isinstance(exc, InsufficientBalance) or exc.topup_amount is None:
        return {}
    agent = Agent.objects.filter(slug=slug).first()
    label = _topup_label(exc.topup_amount, agent) if agent else ""
    return {"topup_url": _topup_url(exc.topup_amount, slug), "topup_label": label}


PENDING_DETAIL: dict[str, str] = {
    AgentRun.Status.QUEUED: "Queued: waiting for a worker. You can leave this page; the result will "
    "appear in your recent runs.",
    AgentRun.Status.RUNNING: "Running the agent…",
}


def _run_payload(request, outcome: services.RunOutcome) -> tuple[dict, int]:
    """The JSON body and status code for a run (first answer, a duplicate's, or a poll's).

    A failed run is a business outcome, not a gateway error: 200 with status "failed" (refunded
    when it had been charged: a queued run; an inline run that fails is never charged).
    A run not finished yet (queued for a worker, or running) is 202 with its status URL to poll.
    `html` is the run as "Your recent runs" shows it (templates/agents/_run.html), rendered from the
    same structured report the body carries.
    """
    run = outcome.run
    body = {
        "run_id": str(run.id),
        "status": run.status,
        "balance": f"{outcome.new_balance:.2f}",
        "balance_display": money(outcome.new_balance),
        "duplicate": outcome.duplicate,
    }
    if run.status == AgentRun.Status.SUCCEEDED:
        # `output` is the plain-text report; `report` its structure (null for plain-text runners).
        body.update(
            output=run.output, report=run.report, charged=f"{run.price:.2f}", charged_display=money(run.price)
        )
        status = 200
    elif run.status == AgentRun.Status.FAILED:
        body.update(
            error=run.error_message, refunded=run.was_refunded, charged="0.00", charged_display=money(0)
        )
        status = 200
    else:
        # Queued for a worker or running (or a duplicate of such a submission: nothing charged by
        # this call). The page polls status_url; a queued run can still be canceled (refunded).
        status = 202
        queued = run.status == AgentRun.Status.QUEUED
        detail = PENDING_DETAIL.get(run.status, "Running the agent…")
        if outcome.duplicate:
            detail = "This request is already being processed. Its result will appear shortly."
        body.update(
            status=run.status if run.status in PENDING_DETAIL else "running",
            detail=detail,
            status_url=reverse("agents:run_status", args=[run.id]),
            cancel_url=reverse("agents:cancel_run", args=[run.id]) if queued else None,
            charged=f"{run.price:.2f}",
            charged_display=money(run.price),
        )
    # Not a RequestContext: the card needs only the CSRF token (a queued run's cancel form), and
    # running every context processor was a tenth of an inline run's time (issue 19).
    context = {**csrf(request), "run": run, "highlight": str(run.id)}
    body["html"] = render_to_string("agents/_run.html", context)
    return body, status


def _run_message(request, outcome: services.RunOutcome) -> None:
    run = outcome.run
    if run.status == AgentRun.Status.SUCCEEDED:
        if outcome.duplicate:
            messages.info(request, "That request had already been run; it was charged only once.")
        else:
            messages.success(request, f"{run.agent.name} finished. {money(run.price)} charged.")
    elif run.status == AgentRun.Status.FAILED:
        if run.was_refunded:
            messages.error(request, f"{run.error_message} You were not charged: {money(run.price)} refunded.")
        else:
            messages.error(request, f"{run.error_message} You were not charged.")
    elif run.status == AgentRun.Status.QUEUED and not outcome.duplicate:
        messages.info(
            request,
            f"Your run is queued ({money(run.price)} charged; refunded if it fails). "
            "Its result will appear below: reload the page in a moment.",
        )
    else:
        messages.info(request, "This request is already being processed. Reload the page in a moment.")


@login_required
@require_GET
def catalogue(request):
    """The catalogue: every active agent with its price and whether the balance covers it."""
    agents = Agent.objects.filter(is_active=True)
    balance = request.user.wallet_balance
    rows = [{"agent": a, "can_afford": balance >= a.price} for a in agents]
    return render(request, "agents/catalogue.html", {"rows": rows})


def _detail_context(request, agent: Agent, *, input_text: str = "", error: str = "") -> dict:
    balance = request.user.wallet_balance
    user_runs = AgentRun.objects.filter(user=request.user, agent=agent)
    runs = user_runs.select_related("agent")[:RECENT_RUNS]
    can_afford = balance >= agent.price
    topup_amount = services.topup_amount_for(price=agent.price, balance=balance)
    return {
        "agent": agent,
        "runs": runs,
        "run_count": user_runs.count(),
        "balance": balance,
        "can_afford": can_afford,
        "shortfall": max(agent.price - balance, 0),
        "topup_url": None if can_afford else _topup_url(topup_amount, agent.slug),
        "topup_label": None if can_afford else _topup_label(topup_amount, agent),
        # A fresh id per page view: a double submit of this form is one charge.
        "request_id": uuid.uuid4(),
        "input_text": input_text,
        "input_length": len(input_text.replace("\r\n", "\n")),
        "error": error,
        "limits": services.input_limits(agent=agent),
        "highlight": request.GET.get("run", ""),
        "spend": _spend(request, agent),
    }


def _spend(request, agent: Agent) -> dict | None:
    """This month's agent spending against the user's limit (None without one), and whether a run
    at this agent's price would go over it: the page says so before the click."""
    # The limit as get_active_agent read it with the agent (no second read), else read now.
    limit = services.spend_limit_for(agent=agent, user_id=request.user.pk)
    if limit is None:
        return None
    spent = services.month_spent(user_id=request.user.pk)
    return {
        "limit": limit,
        "spent": spent,
        "price": agent.price,
        "over": spent + agent.price > limit,
        "raise_limit": RAISE_LIMIT,
    }


def _spend_fields(request, agent: Agent | None) -> dict:
    """The month's spending and limit for a JSON answer, and the page's line for them as rendered
    (templates/agents/_spend.html): after a run or a refusal the page shows them as they are now."""
    spend = _spend(request, agent) if agent is not None and request.user.is_authenticated else None
    if spend is None:
        return {}
    return {
        "month_spent": f"{spend['spent']:.2f}",
        "spend_limit": f"{spend['limit']:.2f}",
        # Without the request: the line needs no context processor (each one costs on every run).
        "spend_html": render_to_string("agents/_spend.html", {"spend": spend}),
    }


def _refused_key(slug: str) -> str:
    return f"agents:refused:{slug}"


@login_required
@require_GET
def agent_detail(request, slug):
    """An agent's page: description, price, the input form and the user's recent runs.

    After a refused form post (post/redirect/get) it shows the refusal once, with what was typed."""
    agent = get_object_or_404(Agent, slug=slug, is_active=True)
    refused = request.session.pop(_refused_key(slug), None) or {}
    context = _detail_context(
        request, agent, input_text=refused.get("input", ""), error=refused.get("error", "")
    )
    return render(request, "agents/detail.html", context)


@login_required
@require_GET
def agent_runs(request, slug):
    """All of the user's runs of one agent, newest first, 25 a page (also of a retired agent)."""
    agent = get_object_or_404(Agent, slug=slug)
    runs = AgentRun.objects.filter(user=request.user, agent=agent).select_related("agent")
    page_obj = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "agents/runs.html", {"agent": agent, "page_obj": page_obj})


@http.json_login_required(message=LOG_IN)
@require_GET
def run_status(request, run_id):
    """JSON state of one of the user's runs (polled after a 202)."""
    run = get_object_or_404(AgentRun.objects.select_related("agent"), pk=run_id, user=request.user)
    outcome = services.RunOutcome(run=run, new_balance=services.current_balance(user=request.user))
    body, _ = _run_payload(request, outcome)
    if run.was_refunded:
        # The month's spending went down (a queued run is charged when queued, and the 202 carried
        # that): only then is the spend line read again; other polls stay within their budget.
        body.update(_spend_fields(request, run.agent))
    return http.json_response(body)


@require_POST
def cancel_run(request, run_id):
    """Cancel one of the user's queued runs and refund it: JSON for the page's script, else a redirect."""
    if not request.user.is_authenticated:
        if http.wants_json(request):
            raise NotAuthenticated(user_message=LOG_IN)
        return redirect_to_login(request.path)
    run = get_object_or_404(AgentRun.objects.select_related("agent"), pk=run_id, user=request.user)
    detail_url = reverse("agents:detail", args=[run.agent.slug])
    try:
        run = queue.cancel_run(user=request.user, run_id=run.pk)
    except RunNotCancelable as exc:
        if http.wants_json(request):
            raise
        # The form goes back to the run, with the reason above it.
        messages.error(request, exc.user_message)
        return redirect(f"{detail_url}?{urlencode({'run': run.id})}#run-{run.id}")
    if http.wants_json(request):
        outcome = services.RunOutcome(run=run, new_balance=services.current_balance(user=request.user))
        body, status = _run_payload(request, outcome)
        body.update(_spend_fields(request, run.agent))
        return http.json_response(body, status)
    messages.success(request, f"Run canceled: {money(run.price)} refunded.")
    return redirect(f"{detail_url}?{urlencode({'run': run.id})}#run-{run.id}")


@require_POST
def use_agent(request, slug):
    """Charge, run and answer: the JSON view for API calls (the page's script), the form view otherwise."""
    if http.wants_json(request):
        return _use_agent_json(request, slug)
    return _use_agent_form(request, slug)


def _run(request, agent: Agent, input_text, request_id) -> services.RunOutcome:
    """The one service call behind both views; domain errors propagate to the view's answer."""
    return services.run_agent(user=request.user, agent=agent, input_text=input_text, request_id=request_id)


def _json_body(request) -> dict:
    """The body as a JSON object; a malformed one is answered with what the endpoint expects."""
    try:
        return http.json_body(request)
    except http.BadRequest as exc:
        if exc.status != 400:
            raise
        raise http.BadRequest(BAD_BODY) from None


def _use_agent_json(request, slug):
    """The page script's call: a JSON body in, the run (or a domain error) as JSON out.

    Every answer carries the balance as stored now, so the page's nav never goes stale."""
    if not request.user.is_authenticated:
        raise NotAuthenticated(user_message=LOG_IN)
    agent = None
    try:
        agent = services.get_active_agent(slug=slug, user=request.user)
        data = _json_body(request)
        outcome = _run(request, agent, data.get("input"), data.get("request_id"))
    except DomainError as exc:
        extra = {**_balance_fields(request), **_topup_fields(exc, slug)}
        if isinstance(exc, SpendLimitReached):
            extra.update(_spend_fields(request, agent))
        return http.error_response(exc, request=request, **extra)
    body, status = _run_payload(request, outcome)
    body.update(_spend_fields(request, agent))
    return http.json_response(body, status)


def _use_agent_form(request, slug):
    """The form post without JavaScript: redirect back to the run, or the page again with the error."""
    detail_url = reverse("agents:detail", args=[slug])
    if not request.user.is_authenticated:
        return redirect_to_login(detail_url)
    try:
        agent = services.get_active_agent(slug=slug, user=request.user)
    except AgentUnavailable:
        raise Http404("No such agent.") from None
    input_text = request.POST.get("input")
    try:
        outcome = _run(request, agent, input_text, request.POST.get("request_id"))
    except AgentUnavailable:
        raise Http404("No such agent.") from None
    except DomainError as exc:
        return _refused_form(request, agent, input_text, exc)
    _run_message(request, outcome)
    return redirect(f"{detail_url}?{urlencode({'run': outcome.run.id})}#run-{outcome.run.id}")


def _refused_form(request, agent: Agent, input_text, exc: DomainError):
    """Post/redirect/get after a refused form: a bad input or expired form shows on the agent's
    page once, with what was typed (never a password); a refusal for balance goes to the wallet
    page; anything else is a message above the form. A reload does not post again."""
    detail_url = reverse("agents:detail", args=[agent.slug])
    if isinstance(exc, InvalidAgentInput | InvalidRequestId):
        keep = isinstance(input_text, str) and not agent.has_sensitive_input
        refused = {"input": input_text if keep else "", "error": exc.user_message}
        request.session[_refused_key(agent.slug)] = refused
        return redirect(f"{detail_url}#agent-input")
    if isinstance(exc, SpendLimitReached):
        # The page says it, with the one way out (templates/agents/_spend.html): not twice.
        return redirect(f"{detail_url}#agent-spend")
    messages.error(request, exc.user_message)
    if isinstance(exc, InsufficientBalance) and exc.topup_amount is not None:
        return redirect(_topup_url(exc.topup_amount, agent.slug))
    return redirect(detail_url)
