"""
Rate limits on the endpoints worth abusing (card top-ups, agent runs, log-in), counted in Django's
cache (Redis in production), per user and per client IP.

A limit is a setting such as TOPUP_RATE_LIMIT="10/10m": at most 10 POSTs per 10-minute window for
each user and, separately, for each IP. Limits apply by URL name, so views stay free of it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import render

from .http import wants_json

logger = logging.getLogger(__name__)

# URL name -> (setting holding the limit, scope label for cache keys).
LIMITED_VIEWS = {
    "wallet:create_payment_intent": "TOPUP_RATE_LIMIT",
    "wallet:confirm_payment": "CONFIRM_RATE_LIMIT",
    "agents:use": "AGENT_RATE_LIMIT",
    "authentication:login": "LOGIN_RATE_LIMIT",
    # The admin's log-in shares the budget (same setting, same counter): one door, not two.
    "admin:login": "LOGIN_RATE_LIMIT",
    "authentication:signup": "SIGNUP_RATE_LIMIT",
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rate(text: str) -> Rate | None:
    """"10/10m" -> Rate(10, 600); "" or "0" or "off" disables the limit."""
    if not text or text.strip().lower() in {"0", "off", "none"}:
        return None
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"Bad rate limit {text!r}: use COUNT/PERIOD, e.g. 10/10m, 5/1h, 100/30s.")
    count, n, unit = match.groups()
    return Rate(int(count), int(n or 1) * _UNITS[unit])


def client_ip(request) -> str:
    """The client address. Behind a proxy, set RATE_LIMIT_IP_HEADER to a header the proxy itself
    overwrites (e.g. HTTP_X_REAL_IP); never X-Forwarded-For, whose first entry the client controls."""
    header = getattr(settings, "RATE_LIMIT_IP_HEADER", "")
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


def hit(scope: str, ident: str, rate: Rate) -> int:
    """Count one request in the current fixed window; return seconds to wait (0 if allowed)."""
    now = int(time.time())
    window = now - now % rate.seconds
    key = f"rl:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=rate.seconds + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=rate.seconds + 5)
        used = 1
    return 0 if used <= rate.count else window + rate.seconds - now


class RateLimitMiddleware:
    """Answer 429 (JSON or a page) once a limited view's POSTs exceed their rate."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or not getattr(settings, "RATE_LIMITS_ENABLED", True):
            return None
        match = request.resolver_match
        setting = LIMITED_VIEWS.get(match.view_name if match else "")
        if not setting:
            return None
        rate = parse_rate(getattr(settings, setting, ""))
        if rate is None:
            return None
        scope = setting.removesuffix("_RATE_LIMIT").lower()
        idents = [f"ip:{client_ip(request)}"]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            idents.append(f"user:{user.pk}")
        wait = max(hit(scope, ident, rate) for ident in idents)
        if not wait:
            return None
        logger.warning("rate limit %s exceeded by %s", scope, ", ".join(idents))
        return too_many(request, wait)


def too_many(request, wait: int):
    minutes, seconds = divmod(wait, 60)
    when = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    message = f"Too many attempts. Please wait {when} and try again."
    if wants_json(request):
        response = JsonResponse({"error": message}, status=429)
    else:
        response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(wait)
    return response
