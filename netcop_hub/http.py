"""The HTTP kit both apps share: JSON bodies in, JSON answers out, domain errors to status codes.

Views stay thin: `json_body` parses (or raises BadRequest), a service does the work, and a domain
exception becomes an answer through the one table below (`describe_error` / `error_response`).
Every message a client sees is written here or by us in the exception (`user_message`); an
exception's own text, a stack or a Stripe detail never reaches a client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from agents import exceptions as agent_errors
from wallet import exceptions as wallet_errors
from wallet.money import format_money

logger = logging.getLogger(__name__)

JSON = "application/json"

UNAVAILABLE = (
    "We couldn't reach the payment service. If your card was charged, your wallet will be credited "
    "automatically. Please try again in a moment."
)
PROVIDER_ERROR = "The payment could not be processed. Please try again or use another card."
MISMATCH = "This payment does not match your top-up. Our team has been alerted; nothing was credited."
TOO_LARGE = "The request is too large."
NOT_JSON = "Send the request as JSON."
BAD_JSON = "The request body is not valid JSON."
NOT_OBJECT = "The request body must be a JSON object."


class BadRequest(Exception):
    """A request we refuse before any service runs; its message is ours and written for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


# --- requests ------------------------------------------------------------------------------------


def wants_json(request) -> bool:
    """True for API calls (a JSON body, or a client asking for JSON); False for pages and forms."""
    return request.content_type == JSON or JSON in request.headers.get("Accept", "")


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def json_body(request) -> dict:
    """The request body as a JSON object; numbers become Decimal (never float), NaN is refused.

    Raises BadRequest: 400 for a body that is not a JSON object, 413 for one over
    DATA_UPLOAD_MAX_MEMORY_SIZE (Django's RequestDataTooBig, otherwise an HTML 400 page).
    """
    if request.content_type != JSON:
        raise BadRequest(NOT_JSON)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BadRequest(TOO_LARGE, 413) from None
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting too deep for the decoder (e.g. 100k "["), not a server fault.
        raise BadRequest(BAD_JSON) from None
    if not isinstance(data, dict):
        raise BadRequest(NOT_OBJECT)
    return data


def storable(value: str) -> bool:
    """False for text no database column or Stripe call takes: NUL, or a lone surrogate ("\\ud800")."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def string_field(data: dict, name: str, max_length: int) -> str:
    """A required, non-blank string field of at most max_length characters, stripped."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or not storable(value):
        raise BadRequest(f"Missing or invalid {name.replace('_', ' ')}.")
    return value.strip()


# --- answers -------------------------------------------------------------------------------------


def json_response(body: dict, status: int = 200) -> JsonResponse:
    """A JSON answer. (NoStoreJsonMiddleware marks every JSON answer `Cache-Control: no-store`.)"""
    return JsonResponse(body, status=status)


def json_error(message: str, status: int, **extra) -> JsonResponse:
    return json_response({"error": message, **extra}, status=status)


@dataclass(frozen=True)
class ErrorInfo:
    status: int
    message: str


def _user_message(exc) -> str:
    return exc.user_message


def _own_text(exc) -> str:
    # Raised by our own validation with texts written for users ("Top-ups must be between ...").
    return str(exc)


def _spend_limit(exc) -> str:
    return (
        f"This run would go over your monthly spend limit of {format_money(exc.limit)} "
        f"({format_money(exc.spent)} used this month). Raise the limit in your billing settings."
    )


# Domain exception -> (status, message, log level). Checked in order: subclasses before their base.
# A message is a fixed text or a function of the exception returning a text we wrote.
ERRORS: tuple[tuple[type[Exception], int, str | Callable[[Exception], str], int | None], ...] = (
    # wallet
    (wallet_errors.InvalidAmount, 400, _own_text, None),
    (wallet_errors.TopUpMismatch, 409, MISMATCH, None),  # settle_topup logged both sides
    (wallet_errors.TopUpError, 400, _own_text, None),
    (wallet_errors.PaymentDeclined, 402, lambda exc: exc.user_message or "Your card was declined.", None),
    # The TopUp stays pending; reconcile_topups finds out later whether an intent exists.
    (wallet_errors.PaymentProviderUnavailable, 503, UNAVAILABLE, logging.WARNING),
    (wallet_errors.PaymentProviderError, 502, PROVIDER_ERROR, logging.ERROR),
    (wallet_errors.InsufficientFunds, 402, "Your balance is too low for this.", None),
    # agents
    (agent_errors.InputTooLong, 413, _user_message, None),
    (agent_errors.InvalidAgentInput, 400, _user_message, None),
    (agent_errors.InvalidRequestId, 400, "This form has expired. Reload the page and try again.", None),
    (
        agent_errors.RequestIdReused,
        409,
        "This request id was already used for another agent. Reload the page and try again.",
        None,
    ),
    (agent_errors.InsufficientBalance, 402, _user_message, None),
    (agent_errors.SpendLimitReached, 402, _spend_limit, None),
    (
        agent_errors.RunNotCancellable,
        409,
        "This run has already started (or finished), so it can no longer be cancelled.",
        None,
    ),
    (agent_errors.AgentUnavailable, 404, "No such agent.", None),
)

DOMAIN_ERRORS: tuple[type[Exception], ...] = tuple(entry[0] for entry in ERRORS)


def describe_error(exc: Exception, *, request=None) -> ErrorInfo:
    """The status code and user-facing message for a domain exception (logged where it matters)."""
    for kind, status, message, level in ERRORS:
        if isinstance(exc, kind):
            if level is not None:
                user = getattr(getattr(request, "user", None), "pk", None)
                path = getattr(request, "path", "")
                logger.log(level, "%s for user %s: %s", path, user, type(exc).__name__)
            return ErrorInfo(status, message(exc) if callable(message) else message)
    raise TypeError(f"no answer for {type(exc).__name__}") from exc


def error_response(exc: Exception, *, request=None, **extra) -> JsonResponse:
    """The JSON error answer for a domain exception."""
    info = describe_error(exc, request=request)
    return json_error(info.message, info.status, **extra)


# --- middleware ----------------------------------------------------------------------------------


class NoStoreJsonMiddleware:
    """Every JSON answer gets `Cache-Control: no-store` (balances and payment states must never be
    served from a cache), and a JSON request whose body is over DATA_UPLOAD_MAX_MEMORY_SIZE gets a
    JSON 413 instead of Django's HTML 400 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith(JSON):
            response["Cache-Control"] = "no-store"
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig) and wants_json(request):
            return json_error(TOO_LARGE, 413)
        return None
