"""Stripe webhook endpoint: the one CSRF-exempt POST, authenticated by its signature instead.

Optional in deployment (the browser path and `reconcile_topups` need no webhook), always correct when
enabled: events are verified on the raw body, stored once by id, and handed to the same services as
the other paths, so whichever path sees a payment first credits it and the others are no-ops.
What an event does is services.process_event's business; this view verifies, stores and answers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .models import StripeEvent

logger = logging.getLogger(__name__)

# How far a signature's timestamp may be from our clock, either way. Stripe's library refuses only
# old ones (same 300 s); a future one would let a captured request be replayed for longer.
SIGNATURE_TOLERANCE_SECONDS = 300
# Never stored (the payload is shown to staff): secrets and card/billing details, at any depth.
SCRUBBED_KEYS = frozenset({"client_secret", "payment_method_details", "billing_details"})


def _scrub(payload):
    """A copy of a decoded JSON payload without SCRUBBED_KEYS anywhere (iterative: no recursion limit)."""
    holder: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [({"root": payload}, holder)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(source, dict) and key in SCRUBBED_KEYS:
                continue
            if not isinstance(value, dict) and hasattr(value, "to_dict"):
                value = value.to_dict()  # a StripeObject that to_dict() left inside a nested list
            copy = {} if isinstance(value, dict) else [] if isinstance(value, list) else value
            if isinstance(target, dict):
                target[key] = copy
            else:
                target.append(copy)
            if isinstance(value, dict | list):
                stack.append((value, copy))
    return holder["root"]


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verify, store once, process; 2xx when handled (or a duplicate), 5xx so Stripe retries."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse({"error": "Not found."}, status=404)
    try:
        event = services.verify_event(request.body, request.headers.get("Stripe-Signature", ""), secret)
    except services.InvalidWebhook as exc:
        logger.warning("webhook rejected: %s", exc)
        return JsonResponse({"error": "Invalid signature."}, status=400)
    except (RecursionError, AttributeError, TypeError) as exc:
        # Signed, but not an event object: a top-level list/null/number (the library calls .get on
        # it) or JSON nested too deep to decode. Nothing to retry: a 400, not a 500.
        logger.warning("webhook rejected: signed body is not an event object (%s)", type(exc).__name__)
        return JsonResponse({"error": "Invalid event."}, status=400)
    signed_at = _signed_at(request.headers.get("Stripe-Signature", ""))
    if signed_at is None or abs(time.time() - signed_at) > SIGNATURE_TOLERANCE_SECONDS:
        logger.warning("webhook rejected: signature timestamp %s outside the tolerance", signed_at)
        return JsonResponse({"error": "Invalid signature."}, status=400)
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        return JsonResponse({"error": "Invalid event."}, status=400)
    if not isinstance(event_type, str):
        return JsonResponse({"error": "Invalid event."}, status=400)

    try:
        stored = _store(event_id, event_type, event)
    except (DataError, ValueError) as exc:
        # Signed, but not storable: NUL or a lone surrogate in its text (PostgreSQL and SQLite
        # refuse them). Stripe never sends such an event; nothing was written (the savepoint rolled back).
        logger.warning("webhook rejected: event %r cannot be stored (%s)", event_id[:64], type(exc).__name__)
        return JsonResponse({"error": "Invalid event."}, status=400)
    if stored.processed_at is not None:
        return JsonResponse({"status": "duplicate"})
    try:
        outcome = services.process_event(event)
    except Exception as exc:  # noqa: BLE001 - any failure: record it, answer 500, Stripe retries
        logger.exception("webhook %s (%s) failed", event_id, event_type)
        StripeEvent.objects.filter(pk=event_id).update(error=f"{type(exc).__name__}: {exc}"[:5000])
        return JsonResponse({"error": "Processing failed."}, status=500)
    StripeEvent.objects.filter(pk=event_id).update(processed_at=timezone.now(), error="")
    logger.info("webhook %s (%s): %s", event_id, event_type, outcome)
    return JsonResponse({"status": "ok"})


def _signed_at(header: str) -> int | None:
    """The t= timestamp of a Stripe-Signature header (already verified as part of the signature)."""
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _store(event_id: str, event_type: str, event: dict) -> StripeEvent:
    """Store the event once (Stripe delivers at least once); return the stored row."""
    try:
        with transaction.atomic():
            return StripeEvent.objects.create(id=event_id, type=event_type[:100], payload=_scrub(event))
    except IntegrityError:
        # Seen before: processed -> the caller acknowledges it; errored earlier -> processed again.
        return StripeEvent.objects.get(pk=event_id)
