"""Agent pages and the paid "use" endpoint. Views are thin: parse, call agents.services, render."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from netcop_hub import http
from wallet.templatetags.money import money

from . import services
from .exceptions import (
    AgentUnavailable,
    InsufficientBalance,
    InvalidAgentInput,
    InvalidRequestId,
    RequestIdReused,
)
from .models import Agent, AgentRun

logger = logging.getLogger(__name__)

RECENT_RUNS = 10
BAD_BODY = "The request body must be a JSON object with input and request_id."


def _topup_url(amount: Decimal) -> str:
    return f"{reverse('wallet:topup')}?{urlencode({'amount': f'{amount:.2f}'})}"


def _run_payload(request, outcome: services.RunOutcome) -> tuple[dict, int]:
    """The JSON body and status code for a run (first answer, a duplicate's, or a poll's).

    A failed run is a business outcome, not a gateway error: 200 with status "failed" (refunded).
    `html` is the run as "Your recent runs" shows it (templates/agents/_run.html).
    """
    run = outcome.run
    body = {
        "run_id": str(run.id),
        "status": run.status,
        "new_balance": f"{outcome.new_balance:.2f}",
        "new_balance_display": money(outcome.new_balance),
        "duplicate": outcome.duplicate,
    }
    if run.status == AgentRun.Status.SUCCEEDED:
        body.update(output=run.output, charged=f"{run.price:.2f}", charged_display=money(run.price))
        status = 200
    elif run.status == AgentRun.Status.FAILED:
        body.update(error=run.error_message, refunded=True, charged="0.00", charged_display=money(0))
        status = 200
    else:
        # A duplicate of a submission that is still running: accepted, nothing charged by this call.
        body.update(
            status="running",
            detail="This request is already being processed. Its result will appear shortly.",
            status_url=reverse("agents:run_status", args=[run.id]),
        )
        return body, 202
    body["html"] = render_to_string("agents/_run.html", {"run": run, "highlight": str(run.id)}, request)
    return body, status


def _run_message(request, outcome: services.RunOutcome) -> None:
    run = outcome.run
    if run.status == AgentRun.Status.SUCCEEDED:
        if outcome.duplicate:
            messages.info(request, "That request had already been run; it was charged only once.")
        else:
            messages.success(request, f"{run.agent.name} finished. {money(run.price)} charged.")
    elif run.status == AgentRun.Status.FAILED:
        messages.error(request, f"{run.error_message} You were not charged: {money(run.price)} refunded.")
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
    runs = AgentRun.objects.filter(user=request.user, agent=agent).select_related("agent")[:RECENT_RUNS]
    can_afford = balance >= agent.price
    return {
        "agent": agent,
        "runs": runs,
        "can_afford": can_afford,
        "topup_url": None
        if can_afford
        else _topup_url(services.topup_amount_for(price=agent.price, balance=balance)),
        # A fresh id per page view: a double submit of this form is one charge.
        "request_id": uuid.uuid4(),
        "input_text": input_text,
        "error": error,
        "max_input_chars": services.MAX_INPUT_CHARS,
        "highlight": request.GET.get("run", ""),
    }


@login_required
@require_GET
def agent_detail(request, slug):
    """An agent's page: description, price, the input form and the user's recent runs."""
    agent = get_object_or_404(Agent, slug=slug, is_active=True)
    return render(request, "agents/detail.html", _detail_context(request, agent))


@login_required
@require_GET
def run_status(request, run_id):
    """JSON state of one of the user's runs (polled after a 202)."""
    run = get_object_or_404(AgentRun.objects.select_related("agent"), pk=run_id, user=request.user)
    outcome = services.RunOutcome(run=run, new_balance=services.current_balance(user=request.user))
    body, _ = _run_payload(request, outcome)
    return http.json_response(body)


@require_POST
def use_agent(request, slug):
    """Charge, run and answer: the JSON view for API calls (the page's script), the form view otherwise."""
    if http.wants_json(request):
        return _use_agent_json(request, slug)
    return _use_agent_form(request, slug)


def _run(request, agent: Agent, input_text, request_id) -> services.RunOutcome:
    """The one service call behind both views; domain errors propagate to the view's answer."""
    return services.run_agent(user=request.user, agent=agent, input_text=input_text, request_id=request_id)


def _use_agent_json(request, slug):
    """The page script's call: a JSON body in, the run (or a domain error) as JSON out."""
    if not request.user.is_authenticated:
        return http.json_error("Log in to use agents.", 401)
    try:
        agent = services.get_active_agent(slug=slug)
        data = http.json_body(request)
        outcome = _run(request, agent, data.get("input"), data.get("request_id"))
    except http.BadRequest as exc:
        message = exc.message if exc.status != 400 else BAD_BODY
        return http.json_error(message, exc.status)
    except InsufficientBalance as exc:
        return http.error_response(exc, request=request, redirect_url=_topup_url(exc.topup_amount))
    except http.DOMAIN_ERRORS as exc:
        return http.error_response(exc, request=request)
    body, status = _run_payload(request, outcome)
    return http.json_response(body, status)


def _use_agent_form(request, slug):
    """The form post without JavaScript: redirect back to the run, or the page again with the error."""
    detail_url = reverse("agents:detail", args=[slug])
    if not request.user.is_authenticated:
        return redirect_to_login(detail_url)
    try:
        agent = services.get_active_agent(slug=slug)
    except AgentUnavailable:
        raise Http404("No such agent.") from None
    input_text = request.POST.get("input")
    try:
        outcome = _run(request, agent, input_text, request.POST.get("request_id"))
    except AgentUnavailable:
        raise Http404("No such agent.") from None
    except (InvalidAgentInput, InvalidRequestId) as exc:
        # Shown on the page again, with what was typed.
        message = http.describe_error(exc).message
        context = _detail_context(request, agent, input_text=input_text or "", error=message)
        return render(request, "agents/detail.html", context, status=400)
    except RequestIdReused as exc:
        messages.error(request, http.describe_error(exc).message)
        return redirect(detail_url)
    except InsufficientBalance as exc:
        messages.error(request, http.describe_error(exc).message)
        return redirect(_topup_url(exc.topup_amount))
    _run_message(request, outcome)
    return redirect(f"{detail_url}?{urlencode({'run': outcome.run.id})}#run-{outcome.run.id}")
