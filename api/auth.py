"""Key authentication for /api/v1/ (issue 21): `Authorization: Bearer ncw_live_…`, nothing else.

No session and no CSRF: the API never reads the session cookie (request.user stays whatever the
middleware made of it and is never used), and the pages never read this header. Each request
re-reads the key (a revoked key is refused on the next request), refuses a held account, and counts
one hit against the key's rate limit (API_RATE_LIMIT, per key, fixed window in the cache)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from authentication.api_keys import ApiKeyError, MissingScope, authenticate
from authentication.models import ApiKey
from netcop_hub import ratelimit
from wallet.exceptions import AccountOnHold

from .problems import RateLimited


def key_from_header(request: HttpRequest) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiKeyError(user_message="Send the key as `Authorization: Bearer <key>`.")
    key = authenticate(secret.strip(), ip=ratelimit.client_ip(request))
    if key.user.is_on_hold:
        raise AccountOnHold()
    rate = getattr(settings, "API_RATE_LIMIT", None)
    if rate is not None and getattr(settings, "RATE_LIMITS_ENABLED", True):
        wait = ratelimit.hit("api", f"key:{key.pk}", rate)
        if wait:
            raise RateLimited(retry_after=wait)
    return key


def require(request: HttpRequest, scope: str) -> ApiKey:
    """The request's key (set by ApiKeyAuth), refusing one without `scope`."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if not key.has_scope(scope):
        raise MissingScope(scope)
    return key


class ApiKeyAuth(HttpBearer):
    """django-ninja's bearer scheme (so the OpenAPI document says so), checked by key_from_header:
    its refusals are domain errors, answered as problem+json by the API's handler."""

    def __call__(self, request: HttpRequest):
        return key_from_header(request)

    def authenticate(self, request: HttpRequest, token: str):  # pragma: no cover - __call__ decides
        return None
