"""The HTTP kit every app shares: JSON bodies in, JSON answers out, one renderer for domain errors.

Views stay thin: `json_body` parses (or raises BadRequest), a service does the work, and any domain
error (netcop_hub.errors.DomainError) a view lets through is answered by DomainErrorMiddleware
through `render_error`: JSON (`{"error": message, "code": code, **details}`) for API calls, a page
for forms. Every message a client sees is the error's `user_message`, written by us; an
exception's own text, a stack or a Stripe detail never reaches a client. The kit imports no app.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from .errors import DomainError, NotAuthenticated

logger = logging.getLogger(__name__)

JSON = "application/json"

TOO_LARGE = "The request is too large."
NOT_JSON = "Send the request as JSON."
BAD_JSON = "The request body is not valid JSON."
NOT_OBJECT = "The request body must be a JSON object."


class BadRequest(DomainError):
    """A request we refuse before any service runs; its message is ours and written for the user."""

    text_is_user_message = True

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status  # type: ignore[misc]  # per request: 400, or 413 for an oversized body
        self.code = "too_large" if status == 413 else "bad_request"  # type: ignore[misc]


# --- requests ------------------------------------------------------------------------------------


def wants_json(request) -> bool:
    """True for API calls (a JSON body, a client asking for JSON, a JSON-only endpoint); False for
    pages and forms."""
    if getattr(request, "json_endpoint", False):
        return True
    return request.content_type == JSON or JSON in request.headers.get("Accept", "")


def json_endpoint(view):
    """Marks a view that answers only JSON: its domain errors are answered as JSON even when the
    client sent a form or no body at all."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.json_endpoint = True
        return view(request, *args, **kwargs)

    return wrapper


def json_login_required(view=None, *, message: str | None = None):
    """Like login_required, but a JSON 401 (NotAuthenticated, with `message` if given) instead of a
    redirect to the login page; and the view's domain errors are answered as JSON (json_endpoint)."""

    def decorate(view):
        @json_endpoint
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                raise NotAuthenticated(user_message=message) if message else NotAuthenticated()
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


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


def _log(exc: DomainError, request) -> None:
    if exc.log_level is not None:
        user = getattr(getattr(request, "user", None), "pk", None)
        path = getattr(request, "path", "")
        logger.log(exc.log_level, "%s for user %s: %s", path, user, type(exc).__name__)


def error_response(exc: DomainError, *, request=None, **extra: Any) -> JsonResponse:
    """The JSON answer for a domain error: its message, code and details (plus a view's `extra`)."""
    _log(exc, request)
    return json_response({"error": exc.user_message, "code": exc.code, **exc.details(), **extra}, exc.status)


def render_error(request, exc: DomainError) -> HttpResponse:
    """The answer for a domain error: JSON for API calls, the error page for pages and forms."""
    response: HttpResponse
    if wants_json(request):
        response = error_response(exc, request=request)
    else:
        _log(exc, request)
        title = "Not found" if exc.status == 404 else "This could not be done"
        response = render(request, "error.html", {"title": title, "message": exc.user_message},
                          status=exc.status)
    # An error that ends at a known time (e.g. top-ups paused after declines) says when, for scripts.
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(int(retry_after))
    return response


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
            return error_response(BadRequest(TOO_LARGE, 413), request=request)
        return None


class DomainErrorMiddleware:
    """Answers any domain error a view lets through (render_error); other exceptions go on to
    Django's 500 handling. Views need no except-ladder."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DomainError):
            return render_error(request, exception)
        return None
