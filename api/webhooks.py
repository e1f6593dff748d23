"""Signed webhooks to customers (issue 21), per the Standard Webhooks spec.

Each event becomes one WebhookDelivery per subscribed endpoint, created after the change that caused
it commits, then POSTed by the task queue: headers `webhook-id` (the same on every attempt: receivers
drop duplicates), `webhook-timestamp` (Unix seconds: receivers refuse anything older than five
minutes, the replay window) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`, one per live secret during a rotation). Delivery goes through the `http`
agents' SSRF guard (public addresses only, no proxy, no redirects). A failed attempt is retried with
back-off by the `retry_webhooks` chore; an endpoint failing for WEBHOOK_DISABLE_AFTER is disabled and
its owner emailed. Every task here is safe to run twice: an attempt is claimed with a conditional
UPDATE first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from agents.runners import PrivateAddress, guarded_opener, private_host
from netcop_hub.errors import DomainError

from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

# Standard Webhooks' own schedule, roughly: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (~28 h in all).
RETRY_DELAYS = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT_SECONDS = 10
MAX_RESPONSE_KEPT = 500
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS_PER_USER = 10
CACHE_SECONDS = 300


class InvalidEndpoint(DomainError):
    code = "invalid_webhook_endpoint"
    text_is_user_message = True


def _allow_private() -> bool:
    # Off in production; tests turn it on to reach their local receiver.
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


_opener = guarded_opener(_allow_private)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(endpoint: WebhookEndpoint, *, message_id: str, timestamp: int, body: bytes) -> str:
    live = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and (
        endpoint.previous_secret_expires_at > timezone.now()
    ):
        live.append(endpoint.previous_secret)
    return " ".join(sign(secret=s, message_id=message_id, timestamp=timestamp, body=body) for s in live)


# --- endpoints -------------------------------------------------------------------------------------


def _cache_key(user_id) -> str:
    return f"webhooks:user:{user_id}"


def _forget(user_id) -> None:
    cache.delete(_cache_key(user_id))


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host or len(url) > 500:
        raise InvalidEndpoint("Enter an http(s) URL of at most 500 characters.")
    if parts.scheme != "https" and not _allow_private():
        raise InvalidEndpoint("Use an https:// URL: events carry your account's data.")
    if not _allow_private() and private_host(host):
        raise InvalidEndpoint("Webhooks can only be sent to public addresses.")
    return url


def add_endpoint(*, user, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    url = check_url(url)
    chosen = sorted(set(events))
    valid = {e.value for e in WebhookEvent if e != WebhookEvent.TEST}
    if not chosen or any(e not in valid for e in chosen):
        raise InvalidEndpoint("Choose at least one event.")
    if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
        raise InvalidEndpoint(f"At most {MAX_ENDPOINTS_PER_USER} endpoints per account.")
    endpoint = WebhookEndpoint.objects.create(
        user=user, url=url, events=chosen, description=description[:200], secret=new_secret()
    )
    transaction.on_commit(partial(_forget, user.pk))
    return endpoint


def rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret at once; the old one still signs (a second signature) for ROTATION_OVERLAP."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint


def set_active(*, endpoint: WebhookEndpoint, active: bool, reason: str = "") -> None:
    endpoint.is_active = active
    endpoint.disabled_reason = "" if active else (reason or "Disabled by its owner.")
    if active:
        endpoint.failing_since = None
    endpoint.save(update_fields=["is_active", "disabled_reason", "failing_since"])
    transaction.on_commit(partial(_forget, endpoint.user_id))


def remove_endpoint(*, endpoint: WebhookEndpoint) -> None:
    user_id = endpoint.user_id
    endpoint.delete()
    transaction.on_commit(partial(_forget, user_id))


def subscribed(user_id) -> list[tuple[int, list[str]]]:
    """The user's active endpoints and their events, cached: every paid run asks, and most accounts
    have none (a cache hit, no SQL, on the hot path)."""
    key = _cache_key(user_id)
    found = cache.get(key)
    if found is None:
        found = list(
            WebhookEndpoint.objects.filter(user_id=user_id, is_active=True).values_list("id", "events")
        )
        cache.set(key, found, CACHE_SECONDS)
    return found


# --- events ----------------------------------------------------------------------------------------


def emit(
    *, user_id, event_type: str, data: dict, endpoint_ids: list[int] | None = None
) -> list[WebhookDelivery]:
    """Record the event for each subscribed endpoint and hand the deliveries to the queue on commit."""
    if endpoint_ids is None:
        endpoint_ids = [pk for pk, events in subscribed(user_id) if event_type in events]
    if not endpoint_ids:
        return []
    now = timezone.now()
    deliveries = []
    for endpoint_id in endpoint_ids:
        message_id = f"msg_{uuid.uuid4().hex}"
        payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
        deliveries.append(
            WebhookDelivery.objects.create(
                endpoint_id=endpoint_id, message_id=message_id, event_type=event_type, payload=payload,
                next_attempt_at=now,
            )
        )
    for delivery in deliveries:
        transaction.on_commit(partial(_enqueue, delivery.pk))
    return deliveries


def _enqueue(delivery_id: int) -> None:
    try:
        deliver_webhook.enqueue(delivery_id)
    except Exception:  # noqa: BLE001 - the retry chore picks it up: next_attempt_at is due
        logger.exception("webhook delivery %s not enqueued; the retry chore will send it", delivery_id)


# --- delivery --------------------------------------------------------------------------------------


# What the delivery log tells the endpoint's owner about a failed connection: words, never an
# exception's name or text. Most specific first (they are OSError subclasses).
_CONNECTION_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (PrivateAddress, "Refused: the address is on a private network"),
    (socket.gaierror, "Host name not found (DNS)"),
    (ConnectionRefusedError, "Connection refused"),
    (ConnectionResetError, "Connection reset by the receiver"),
    (TimeoutError, "Timed out"),
    (ssl.SSLCertVerificationError, "TLS certificate not accepted"),
    (ssl.SSLError, "TLS handshake failed"),
)


def _describe(error: object) -> str:
    for kind, words in _CONNECTION_ERRORS:
        if isinstance(error, kind):
            return words
    return "Could not connect"


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """(status code, start of the answer, error) of one attempt. Network only: no transaction here."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "NetCop-Wallet-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            endpoint, message_id=delivery.message_id, timestamp=timestamp, body=body
        ),
    }
    request = urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.status, answer.read(MAX_RESPONSE_KEPT).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_RESPONSE_KEPT).decode("utf-8", "replace"), f"HTTP {exc.code}"
    except urllib.error.URLError as exc:  # urllib wraps the cause: the SSRF guard, refused, DNS, TLS
        return None, "", _describe(exc.reason)
    except OSError as exc:  # timed out while reading
        return None, "", _describe(exc)
    except Exception:  # noqa: BLE001 - http.client's protocol errors: a failed attempt
        return None, "", "The receiver's answer was not valid HTTP"


def attempt(delivery_id: int, *, now=None) -> str:
    """One attempt of a due delivery; what happened, as a word. Safe to call twice at once: only
    the call whose claim (attempts + 1, next attempt pushed out) succeeds sends."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "skipped"
    if delivery.next_attempt_at and delivery.next_attempt_at > now:
        return "not due"
    endpoint = delivery.endpoint
    if not endpoint.is_active and delivery.event_type != WebhookEvent.TEST:
        WebhookDelivery.objects.filter(pk=delivery.pk, status="pending").update(
            status=WebhookDelivery.Status.FAILED, last_error="Endpoint disabled."
        )
        return "endpoint disabled"
    # Claim: a twin delivery of this task (or the chore) finds attempts moved on and stops.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status="pending", attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=TIMEOUT_SECONDS * 3))
    if not claimed:
        return "skipped"
    attempts = delivery.attempts + 1
    code, answer, error = _post(endpoint, delivery)
    done = timezone.now()
    if code is not None and 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.SUCCEEDED, delivered_at=done, next_attempt_at=None,
            last_status_code=code, last_response=answer, last_error="",
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return "delivered"
    gave_up = attempts >= MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED if gave_up else WebhookDelivery.Status.PENDING,
        next_attempt_at=None if gave_up else done + RETRY_DELAYS[attempts - 1],
        last_status_code=code, last_response=answer, last_error=error[:255],
    )
    if delivery.event_type != WebhookEvent.TEST:
        _note_failure(endpoint, now=done)
    return "gave up" if gave_up else "will retry"


def _note_failure(endpoint: WebhookEndpoint, *, now) -> None:
    """Failing since when; past WEBHOOK_DISABLE_AFTER the endpoint is disabled and its owner told."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = WebhookEndpoint.objects.values_list("failing_since", flat=True).get(pk=endpoint.pk)
    if since is None or now - since < settings.WEBHOOK_DISABLE_AFTER:
        return
    reason = f"Every delivery failed since {since:%Y-%m-%d %H:%M} UTC."
    if WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_reason=reason
    ):
        _forget(endpoint.user_id)
        owner = get_user_model().objects.get(pk=endpoint.user_id)
        send_mail(
            "Your NetCop Wallet webhook endpoint was disabled",
            f"We could not deliver events to {endpoint.url}: {reason}\n\n"
            f"Fix the receiver, then enable the endpoint again on {settings.SITE_URL}/accounts/webhooks/ "
            "(and send a test event).",
            None, [owner.email],
        )
        logger.warning("webhook endpoint %s disabled after failing since %s", endpoint.pk, since)


@task()
def deliver_webhook(delivery_id: int) -> str:
    return attempt(delivery_id)


@task()
def retry_webhooks() -> int:
    """The chore: attempt every pending delivery whose time has come (retries, and first attempts
    the queue lost)."""
    due = list(
        WebhookDelivery.objects.filter(status="pending", next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at").values_list("pk", flat=True)[:500]
    )
    for delivery_id in due:
        attempt(delivery_id)
    return len(due)
