"""
Rate limits on the endpoints worth abusing (card top-ups, agent runs, log-in), counted in Django's
cache (Redis in production), per user and per client IP.

A limit is a setting such as TOPUP_RATE_LIMIT="10/10m" (parsed at start-up into a Rate, or None
for "off", by netcop_hub.config): at most 10 POSTs per 10-minute window for
each user and, separately, at most 10 failed or refused POSTs for each IP (see RateLimitMiddleware).
Limits apply by URL name, so views stay free of it.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.ipv6 import clean_ipv6_address

from .config import Rate
from .http import wants_json
from .pageconfig import TOO_MANY, WAIT_MINUTES, WAIT_SECONDS

logger = logging.getLogger(__name__)

# URL name -> (setting holding the limit, scope label for cache keys).
LIMITED_VIEWS = {
    "wallet:create_payment_intent": "TOPUP_RATE_LIMIT",
    "wallet:confirm_payment": "CONFIRM_RATE_LIMIT",
    # Finishing or canceling a top-up left at 3-D Secure: the same budget as confirming one.
    "wallet:resume_topup": "CONFIRM_RATE_LIMIT",
    "wallet:cancel_topup": "CONFIRM_RATE_LIMIT",
    "agents:use": "AGENT_RATE_LIMIT",
    # Each asks Stripe for the saved cards (and may detach one): one account must not use up the
    # business's Stripe rate limit.
    "wallet:settings": "BILLING_RATE_LIMIT",
    "wallet:use_card": "BILLING_RATE_LIMIT",
    "wallet:remove_card": "BILLING_RATE_LIMIT",
    "authentication:login": "LOGIN_RATE_LIMIT",
    # The admin's log-in shares the budget (same setting, same counter): one door, not two.
    "admin:login": "LOGIN_RATE_LIMIT",
    "authentication:signup": "SIGNUP_RATE_LIMIT",
    # Issue 23: guessing promo codes.
    "wallet:redeem_promo": "PROMO_REDEEM_RATE_LIMIT",
}
# Views whose per-IP budget counts every POST, not only failures (see RateLimitMiddleware).
IP_COUNTS_EVERY_POST = frozenset({"authentication:signup"})

def client_ip(request) -> str:
    """The client address. Behind a proxy, set RATE_LIMIT_IP_HEADER to a header the proxy itself
    overwrites (e.g. HTTP_X_REAL_IP); never X-Forwarded-For, whose first entry the client controls."""
    header = getattr(settings, "RATE_LIMIT_IP_HEADER", "")
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


def ip_or_none(value: str | None) -> str | None:
    """`value` if it is an IP address, else None: what may be stored in an address column (client_ip
    is "unknown" without REMOTE_ADDR, e.g. on a unix socket, and a proxy header may carry anything;
    PostgreSQL's inet refuses both)."""
    text = (value or "").strip()
    try:
        address = ipaddress.ip_address(text)
        # IPv6 as GenericIPAddressField stores and reads it back ("::ffff:1.2.3.4" stays so), so a
        # stored address compares equal to the next request's.
        return clean_ipv6_address(text) if address.version == 6 else str(address)
    except (ValueError, ValidationError):
        return None


def _window(rate: Rate) -> tuple[int, int]:
    """(start of the current fixed window, seconds until it ends)."""
    now = int(time.time())
    start = now - now % rate.seconds
    return start, start + rate.seconds - now


def _key(scope: str, ident: str, rate: Rate) -> str:
    return f"rl:{scope}:{ident}:{_window(rate)[0]}"


def count(scope: str, ident: str, rate: Rate) -> int:
    """Add one to this window's counter; return the new total."""
    key = _key(scope, ident, rate)
    cache.add(key, 0, timeout=rate.seconds + 5)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=rate.seconds + 5)
        return 1


def peek(scope: str, ident: str, rate: Rate) -> int:
    """Seconds to wait if this window's budget is already spent (0 if allowed); counts nothing."""
    used = cache.get(_key(scope, ident, rate), 0)
    return _window(rate)[1] if used >= rate.count else 0


def hit(scope: str, ident: str, rate: Rate) -> int:
    """Count one request in the current fixed window; return seconds to wait (0 if allowed)."""
    used = count(scope, ident, rate)
    return 0 if used <= rate.count else _window(rate)[1]



# --- sliding windows (issue 20 review: the card-testing decline limits) ------------------------------
# A fixed window forgets at its edge: declines just before and just after it are counted apart, so
# twice the limit can pass in seconds and "6 declines in an hour" need not refuse the 7th. These
# count in SLIDING_BUCKETS buckets per window, each with the time of its latest hit: a bucket counts
# whole while that hit is younger than the window (never less than the hits of the last `seconds`;
# at most one bucket's older hits more), and stops counting exactly `seconds` after it.
SLIDING_BUCKETS = 60


def _bucket_size(rate: Rate) -> int:
    return max(1, -(-rate.seconds // SLIDING_BUCKETS))  # ceil


def _bucket_keys(scope: str, ident: str, rate: Rate, now: int) -> list[str]:
    size = _bucket_size(rate)
    first, last = (now - rate.seconds) // size, now // size
    return [f"rls:{scope}:{ident}:{size}:{b}" for b in range(first, last + 1)]


def count_sliding(scope: str, ident: str, rate: Rate) -> None:
    """Add one to the current bucket of a sliding window and stamp its latest hit (see peek_sliding)."""
    now = int(time.time())
    key = _bucket_keys(scope, ident, rate, now)[-1]
    timeout = rate.seconds + 2 * _bucket_size(rate) + 5
    cache.add(key, 0, timeout=timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
    cache.set(f"{key}:at", now, timeout=timeout)


def peek_sliding(scope: str, ident: str, rate: Rate) -> int:
    """Seconds to wait until fewer than `rate.count` hits fall in the last `rate.seconds` (0: allowed
    now; never more than `rate.seconds`); counts nothing."""
    now = int(time.time())
    keys = _bucket_keys(scope, ident, rate, now)
    found = cache.get_many([*keys, *(f"{k}:at" for k in keys)])
    live = []  # (when the bucket stops counting, its hits), oldest first
    for key in keys:
        hits, at = int(found.get(key) or 0), found.get(f"{key}:at")
        if hits and at is not None and now < int(at) + rate.seconds:
            live.append((int(at) + rate.seconds, hits))
    total = sum(hits for _, hits in live)
    for ends, hits in live:
        if total < rate.count:
            break
        total -= hits
        if total < rate.count:
            return max(1, ends - now)
    return 0


def failed(response) -> bool:
    """True for an answer that did not do what was asked: an error or refusal (4xx/5xx, 429 included),
    or a form shown again with its errors (a 200 page; a form that worked redirects)."""
    if response.status_code >= 400:
        return True
    return response.status_code == 200 and response.get("Content-Type", "").startswith("text/html")


def _limit(request) -> tuple[str, Rate, str] | None:
    """(scope, rate, URL name) for a POST to a limited view, else None."""
    if request.method != "POST" or not getattr(settings, "RATE_LIMITS_ENABLED", True):
        return None
    match = getattr(request, "resolver_match", None)
    name = match.view_name if match else ""
    setting = LIMITED_VIEWS.get(name)
    if not setting:
        return None
    rate: Rate | None = getattr(settings, setting, None)
    if rate is None:
        return None
    return setting.removesuffix("_RATE_LIMIT").lower(), rate, name


class RateLimitMiddleware:
    """Answer 429 (JSON or a page) once a limited view's budget is spent.

    Two budgets per limited view, each the view's rate:
    - per signed-in user: every POST counts (one person's own pace);
    - per client IP: only failed and refused POSTs count (declines, bad requests, wrong passwords,
      CSRF refusals, 429s), so an office or a carrier NAT full of people paying successfully never
      locks out the next person, while card testing and password guessing from one address still do.
      Sign-up is the exception: there every POST from an IP counts (each success is a new account).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        limit = _limit(request)  # resolver_match is known once the request went through the URLconf
        if limit is not None and limit[2] not in IP_COUNTS_EVERY_POST and failed(response):
            scope, rate, _ = limit
            count(scope, f"ip:{client_ip(request)}", rate)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit = _limit(request)
        if limit is None:
            return None
        scope, rate, name = limit
        ip = f"ip:{client_ip(request)}"
        # Failures are counted after the answer (__call__); here the IP budget is only checked.
        waits = [hit(scope, ip, rate) if name in IP_COUNTS_EVERY_POST else peek(scope, ip, rate)]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            waits.append(hit(scope, f"user:{user.pk}", rate))
        wait = max(waits)
        if not wait:
            return None
        logger.warning("rate limit %s exceeded by %s (user %s)", scope, ip, getattr(user, "pk", None))
        return too_many(request, wait)


def wait_text(seconds: int) -> str:
    """42 -> "42 s"; 582 -> "9 min 42 s" (static/js/common.js counts down with the same templates)."""
    minutes, rest = divmod(max(int(seconds), 0), 60)
    if minutes:
        return WAIT_MINUTES.format(minutes=minutes, seconds=rest)
    return WAIT_SECONDS.format(seconds=rest)


def too_many(request, wait: int):
    """The 429 answer: `retry_after` seconds in the JSON body and the Retry-After header."""
    message = TOO_MANY.format(wait=wait_text(wait))
    if wants_json(request):
        response = JsonResponse({"error": message, "code": "rate_limited", "retry_after": wait}, status=429)
    else:
        response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(wait)
    return response
