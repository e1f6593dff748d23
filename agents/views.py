"""Agent pages and the paid "use" endpoint. Views are thin: parse, call agents.services, render."""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from wallet.money import format_money
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


def _wants_json(request) -> bool:
    return request.content_type == "application/json"


def _topup_url(amount: Decimal) -> str:
    return f"{reverse('wallet:topup')}?{urlencode({'amount': f'{amount:.2f}'})}"


def _run_payload(outcome: services.RunOutcome) -> tuple[dict, int]:
    """The JSON body and status code for a run (first answer or a duplicate's)."""
    run = outcome.run
    body = {
        "run_id": str(run.id),
        "status": run.status,
        "new_balance": f"{outcome.new_balance:.2f}",
        "new_balance_display": money(outcome.new_balance),
        "duplicate": outcome.duplicate,
    }
    if run.status == AgentRun.Status.SUCCEEDED:
        body.update(output=run.output, charged=f"{run.price:.2f}")
        return body, 200
    if run.status == AgentRun.Status.FAILED:
        body.update(error=run.error_message, refunded=True, charged="0.00")
        return body, 502
    # A duplicate of a submission that is still running: accepted, nothing charged by this call.
    body.update(
        status="running",
        detail="This request is already being processed. Its result will appear shortly.",
        status_url=reverse("agents:run_status", args=[run.id]),
    )
    return body, 202


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
    body, _ = _run_payload(outcome)
    return JsonResponse(body)


def _parse(request) -> tuple[object, object]:
    """(input, request_id) from a JSON body or a form post; ValueError for a malformed JSON body."""
    if _wants_json(request):
        data = json.loads(request.body or b"null")
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data.get("input"), data.get("request_id")
    return request.POST.get("input"), request.POST.get("request_id")


@require_POST
def use_agent(request, slug):
    """Charge, run and answer: JSON for application/json requests, redirects for form posts."""
    is_json = _wants_json(request)
    detail_url = reverse("agents:detail", args=[slug])
    if not request.user.is_authenticated:
        if is_json:
            return JsonResponse({"error": "Log in to use agents."}, status=401)
        return redirect_to_login(detail_url)
    try:
        agent = services.get_active_agent(slug=slug)
    except AgentUnavailable:
        raise Http404("No such agent.") from None

    def bad_request(message: str, input_text: str = ""):
        if is_json:
            return JsonResponse({"error": message}, status=400)
        context = _detail_context(request, agent, input_text=input_text, error=message)
        return render(request, "agents/detail.html", context, status=400)

    try:
        input_text, request_id = _parse(request)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        return bad_request("The request body must be a JSON object with input and request_id.")
    try:
        outcome = services.run_agent(
            user=request.user, agent=agent, input_text=input_text, request_id=request_id
        )
    except InvalidAgentInput as exc:
        return bad_request(exc.user_message, input_text if isinstance(input_text, str) else "")
    except InvalidRequestId:
        return bad_request("This form has expired. Reload the page and try again.")
    except AgentUnavailable:
        raise Http404("No such agent.") from None
    except RequestIdReused:
        message = "This request id was already used for another agent. Reload the page and try again."
        if is_json:
            return JsonResponse({"error": message}, status=409)
        messages.error(request, message)
        return redirect(detail_url)
    except InsufficientBalance as exc:
        message = f"Insufficient balance. Need {format_money(exc.price)}."
        url = _topup_url(exc.topup_amount)
        if is_json:
            return JsonResponse({"error": message, "redirect_url": url}, status=402)
        messages.error(request, message)
        return redirect(url)

    if is_json:
        body, status = _run_payload(outcome)
        return JsonResponse(body, status=status)
    _run_message(request, outcome)
    return redirect(f"{detail_url}?{urlencode({'run': outcome.run.id})}#run-{outcome.run.id}")
