"""Stripe webhook endpoint: the one CSRF-exempt POST, authenticated by its signature instead.

Optional in deployment (the browser path and `reconcile_topups` need no webhook), always correct when
enabled: events are verified on the raw body, stored once by id, and handed to the same services as
the other paths, so whichever path sees a payment first credits it and the others are no-ops.
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

from . import payments, services
from .exceptions import PaymentProviderError
from .models import CardRefund, StripeEvent, TopUp

logger = logging.getLogger(__name__)

# Events whose intent we re-read from Stripe and settle (settle_topup maps every intent status).
INTENT_EVENTS = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
}
# Events about one Refund object: re-read from Stripe and finish our CardRefund accordingly.
REFUND_EVENTS = {"charge.refund.updated", "refund.updated", "refund.failed"}
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
        event = payments.construct_event(
            request.body, request.headers.get("Stripe-Signature", ""), secret
        )
    except payments.InvalidWebhook as exc:
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
        outcome = process_event(event)
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


def process_event(event: dict) -> str:
    """Apply one verified event. Returns a short outcome for the log; raises to be retried."""
    event_type = event["type"]
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        obj = {}  # malformed (signed, but not Stripe's shape): ignored below rather than retried forever
    if event_type in INTENT_EVENTS:
        return _intent_event(obj.get("id"))
    if event_type == "charge.refunded":
        return _charge_refunded(obj)
    if event_type in REFUND_EVENTS:
        return _refund_event(obj.get("id"))
    return "ignored (type not handled)"


def _refund_event(refund_id) -> str:
    """One of our refunds changed at Stripe (e.g. failed after it succeeded): finish it as Stripe says."""
    if not isinstance(refund_id, str) or not refund_id.startswith("re_"):
        return "ignored (no refund id)"
    refund = CardRefund.objects.filter(stripe_refund_id=refund_id).first()
    if refund is None:
        return "ignored (not ours)"
    # The status comes from Stripe, not the event body (no transaction is open here).
    result = payments.retrieve_refund(refund_id)
    refund = services.apply_stripe_refund(refund.pk, result)
    return f"refund {refund.pk} {refund.status}"


def _intent_event(intent_id) -> str:
    if not isinstance(intent_id, str) or not intent_id.startswith("pi_"):
        return "ignored (no intent id)"
    # Never trust the event body for amounts or status: read the intent from Stripe (no
    # transaction is open here) and let settle_topup compare it with our own TopUp row.
    known = TopUp.objects.filter(stripe_payment_intent_id=intent_id).exists()
    try:
        intent = payments.retrieve_intent(intent_id)
    except PaymentProviderError:
        if known:
            raise  # one of ours: answer 500 so Stripe retries
        # Neither we nor Stripe know it: a retry cannot help (a 5xx would be retried for 3 days).
        logger.warning("webhook: intent %s is unknown here and at Stripe; ignored", intent_id)
        return "ignored (unknown intent)"
    if not known:
        # Our create call may have lost its response: the intent carries our topup_id metadata.
        if services.attach_intent_by_metadata(intent=intent) is None:
            logger.info("webhook: intent %s is not one of our top-ups; ignored", intent.id)
            return "ignored (not ours)"
    result = services.settle_topup(intent=intent)
    return f"topup {result.topup.id} {result.status}" + (" credited" if result.credited_now else "")


def _charge_refunded(charge: dict) -> str:
    """A refund made outside the app (or our own, already accounted): align the ledger once.

    The body only names the charge: its refunded total and currency are read from Stripe (no
    transaction is open here). amount_refunded is cumulative, so a stale or repeated delivery
    computes nothing new.
    """
    intent_id = charge.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    if not isinstance(intent_id, str) or not intent_id:
        return "ignored (charge without intent)"
    topup = TopUp.objects.filter(stripe_payment_intent_id=intent_id).first()
    if topup is None:
        logger.info("webhook: refunded charge %s is not one of our top-ups; ignored", charge.get("id"))
        return "ignored (not ours)"
    charge_id = charge.get("id")
    if not isinstance(charge_id, str) or not charge_id.startswith("ch_"):
        return "ignored (no charge id)"
    try:
        current = payments.retrieve_charge(charge_id)
    except PaymentProviderError:
        # Stripe refuses it (no such charge): nothing was refunded through it; a retry cannot help.
        logger.warning("webhook: charge %s (intent %s) is unknown at Stripe; ignored", charge_id, intent_id)
        return "ignored (unknown charge)"
    if current.payment_intent_id != intent_id:
        logger.warning(
            "webhook: charge %s is of %s, not %s; ignored", charge_id, current.payment_intent_id, intent_id
        )
        return "ignored (charge of another intent)"
    if topup.status != TopUp.Status.SUCCEEDED:
        # Refunded before we settled it: credit first (the money did arrive), then take it back.
        services.settle_topup(intent=payments.retrieve_intent(intent_id))
    refund = services.record_external_refund(
        payment_intent_id=intent_id,
        charge_id=current.id,
        amount_refunded_minor=current.amount_refunded,
        currency=current.currency,
    )
    return f"refund {refund.id} recorded" if refund else "nothing new to refund"
