"""Stripe events (from the webhook): re-read what they name from Stripe and hand it to the services.

Never trust an event's body for amounts or status: every handler reads the object from Stripe (no
transaction is open here) and lets the services compare it with our own rows.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import payments
from ..exceptions import PaymentProviderError
from ..models import CardRefund, TopUp
from ..payments import InvalidWebhook
from .chargebacks import sync_dispute, sync_fraud_warning
from .refunds import apply_stripe_refund, record_external_refund
from .topups import attach_intent_by_metadata, settle_topup

__all__ = [
    "DISPUTE_EVENTS", "FRAUD_WARNING_EVENTS", "INTENT_EVENTS", "REFUND_EVENTS", "InvalidWebhook",
    "process_event", "verify_event",
]

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
# Issue 20: events about one Dispute (any order, any number of times) and one early fraud warning.
DISPUTE_EVENTS = {
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
}
FRAUD_WARNING_EVENTS = {"radar.early_fraud_warning.created", "radar.early_fraud_warning.updated"}


def verify_event(payload: bytes, signature_header: str, secret: str) -> dict[str, Any]:
    """A webhook's event, verified on its raw body by the payments backend (InvalidWebhook if not)."""
    return payments.construct_event(payload, signature_header, secret)


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
    if event_type in DISPUTE_EVENTS:
        return _dispute_event(obj.get("id"))
    if event_type in FRAUD_WARNING_EVENTS:
        return _fraud_warning_event(obj.get("id"))
    return "ignored (type not handled)"


def _dispute_event(dispute_id) -> str:
    """Whatever the event says, the dispute is read from Stripe and applied as it is now: a replayed
    or out-of-order event finds its steps already done (wallet.services.disputes)."""
    if not isinstance(dispute_id, str) or not dispute_id.startswith(("dp_", "du_")):
        return "ignored (no dispute id)"
    try:
        dispute = payments.retrieve_dispute(dispute_id)
    except PaymentProviderError:
        logger.warning("webhook: dispute %s is unknown at Stripe; ignored", dispute_id)
        return "ignored (unknown dispute)"
    result = sync_dispute(dispute)
    return str(result) if result is not None else "ignored (not ours)"


def _fraud_warning_event(warning_id) -> str:
    if not isinstance(warning_id, str) or not warning_id.startswith("issfr_"):
        return "ignored (no early fraud warning id)"
    try:
        warning = payments.retrieve_fraud_warning(warning_id)
    except PaymentProviderError:
        logger.warning("webhook: early fraud warning %s is unknown at Stripe; ignored", warning_id)
        return "ignored (unknown early fraud warning)"
    row = sync_fraud_warning(warning)
    return f"early fraud warning {warning_id}: {row.outcome}" if row is not None else "ignored (not ours)"


def _refund_event(refund_id) -> str:
    """One of our refunds changed at Stripe (e.g. failed after it succeeded): finish it as Stripe says."""
    if not isinstance(refund_id, str) or not refund_id.startswith("re_"):
        return "ignored (no refund id)"
    refund = CardRefund.objects.filter(stripe_refund_id=refund_id).first()
    if refund is None:
        return "ignored (not ours)"
    # The status comes from Stripe, not the event body (no transaction is open here).
    result = payments.retrieve_refund(refund_id)
    refund = apply_stripe_refund(refund.pk, result)
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
        if attach_intent_by_metadata(intent=intent) is None:
            logger.info("webhook: intent %s is not one of our top-ups; ignored", intent.id)
            return "ignored (not ours)"
    result = settle_topup(intent=intent)
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
        settle_topup(intent=payments.retrieve_intent(intent_id))
    refund = record_external_refund(
        payment_intent_id=intent_id,
        charge_id=current.id,
        amount_refunded_minor=current.amount_refunded,
        currency=current.currency,
    )
    return f"refund {refund.id} recorded" if refund else "nothing new to refund"
