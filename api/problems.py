"""Every API error as RFC 9457 `application/problem+json`, with a stable `code` (issue 21).

Domain errors answer for themselves (netcop_hub.errors.DomainError: status, code, user message and
the figures a program needs, e.g. balance/price/shortfall/topup_url or limit/spent); request
validation, unknown routes and anything unexpected get the same shape. Never an exception's text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse

from netcop_hub.errors import DomainError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "No such resource."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, *, retry_after: int):
        super().__init__(
            "API rate limit", user_message=f"Too many requests with this key: retry in {retry_after} s."
        )
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    default_message = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."


class InvalidRequest(DomainError):
    code = "invalid_request"
    status = 422
    default_message = "The request does not match the API's schema."


def problem_response(
    request: HttpRequest | None, *, status: int, code: str, detail: str, **extra: Any
) -> HttpResponse:
    body: dict[str, Any] = {
        # A relative reference to the docs page's list of codes (RFC 9457 allows relative URIs).
        "type": f"/api/v1/docs/#{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    if request is not None and isinstance(body.get("topup_url"), str) and body["topup_url"].startswith("/"):
        body["topup_url"] = request.build_absolute_uri(body["topup_url"])
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_JSON)
    response["Cache-Control"] = "no-store"
    if isinstance(extra.get("retry_after"), int):
        response["Retry-After"] = str(extra["retry_after"])
    return response


def domain_problem(request: HttpRequest, exc: DomainError) -> HttpResponse:
    if exc.log_level is not None:
        logger.log(exc.log_level, "%s: %s", request.path, type(exc).__name__)
    # The page-only display strings are left out: a program formats its own numbers.
    extra = {k: v for k, v in exc.details().items() if not k.endswith(("_display", "_label"))}
    return problem_response(request, status=exc.status, code=exc.code, detail=exc.user_message, **extra)
