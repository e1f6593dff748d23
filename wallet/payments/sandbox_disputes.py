"""The sandbox's disputes and early fraud warnings: what localstripe cannot do, done beside it.

localstripe has no Dispute or EarlyFraudWarning objects and never sends their events. Real Stripe's
test cards do: 4000 0000 0000 0259 is disputed as fraudulent right after it pays, and
4000 0000 0000 5423 gets an early fraud warning. So that `make run` shows both end to end, the
sandbox keeps them where the app cannot cheat: on the localstripe Charge itself (its metadata, the
sandbox's store), read back through the gateway's retrieve/list calls, and announces them with a
webhook signed with STRIPE_WEBHOOK_SECRET, posted to the app's endpoint by a task (at least once,
like Stripe). The wallet's code path is the one real Stripe drives: event -> retrieve -> services;
reconciliation's list finds them without the webhook.

Evidence behaves as in Stripe's test mode: uncategorized_text "winning_evidence" wins the dispute
(funds reinstated), "losing_evidence" loses it; anything else leaves it under review.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from django.conf import settings
from django.urls import reverse
from django_tasks import task

from .base import Dispute, FraudWarning
from .stripe import _call, _client, _get, _id_of

logger = logging.getLogger(__name__)

DISPUTE_CARD = "0259"  # 4000 0000 0000 0259: disputed as fraudulent after payment
FRAUD_WARNING_CARD = "5423"  # 4000 0000 0000 5423: an early fraud warning after payment
_DISPUTE_KEY = "sandbox_dispute"
_WARNING_KEY = "sandbox_early_fraud_warning"
EVIDENCE_DAYS = 7
WINNING, LOSING = "winning_evidence", "losing_evidence"


def _suffix(object_id: str) -> str:
    return object_id.split("_", 1)[1] if "_" in object_id else object_id


def _charge(charge_id: str) -> Any:
    return _call("retrieve_charge", lambda: _client().v1.charges.retrieve(charge_id))


def _stored(charge: Any, key: str) -> dict[str, Any] | None:
    metadata = _get(charge, "metadata")
    raw = metadata.to_dict().get(key) if metadata is not None else None
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _store(charge_id: str, key: str, value: dict[str, Any]) -> None:
    text = json.dumps(value, separators=(",", ":"))
    _call(
        "update_charge",
        lambda: _client().v1.charges.update(charge_id, params={"metadata": {key: text}}),
    )


def _dispute(charge: Any, data: dict[str, Any]) -> Dispute:
    status = str(data.get("status", "needs_response"))
    return Dispute(
        id="dp_" + _suffix(str(charge.id)),
        charge_id=str(charge.id),
        payment_intent_id=_id_of(_get(charge, "payment_intent")),
        amount=int(charge.amount),
        currency=str(charge.currency).lower(),
        status=status,
        reason=str(data.get("reason", "fraudulent")),
        evidence_due_by=int(data["due_by"]) if data.get("due_by") else None,
        funds_withdrawn=True,  # a fraudulent dispute takes the money at once, as in Stripe
        funds_reinstated=status == "won",
        evidence_submitted=int(data.get("submissions", 0)) > 0,
    )


def _warning(charge: Any, data: dict[str, Any]) -> FraudWarning:
    return FraudWarning(
        id="issfr_" + _suffix(str(charge.id)),
        charge_id=str(charge.id),
        payment_intent_id=_id_of(_get(charge, "payment_intent")),
        actionable=bool(data.get("actionable", True)),
        fraud_type=str(data.get("fraud_type", "made_with_stolen_card")),
    )


def _card_last4(payment_method: str) -> str:
    obj = _call("retrieve_payment_method", lambda: _client().v1.payment_methods.retrieve(payment_method))
    card = obj if _get(obj, "object") == "card" else _get(obj, "card")
    return str(_get(card, "last4", ""))


def after_payment(intent_id: str, *, card_last4: str = "") -> None:
    """A payment succeeded: if its card is one of Stripe's dispute / fraud-warning test cards, do
    what Stripe would do next (the dispute or warning appears, its event is sent).

    card_last4: the card's last four digits when the payment's answer named them: any other card
    costs no call at all; unknown (""), the charge and its card are read back."""
    if card_last4 and card_last4 not in (DISPUTE_CARD, FRAUD_WARNING_CARD):
        return
    intent = _call("retrieve_intent", lambda: _client().v1.payment_intents.retrieve(intent_id))
    charge_ref = _get(intent, "latest_charge")
    charge = _charge(charge_ref) if isinstance(charge_ref, str) else charge_ref
    if charge is None:
        return
    payment_method = _id_of(_get(charge, "payment_method"))
    last4 = _card_last4(payment_method) if payment_method else ""
    now = int(time.time())
    if last4 == DISPUTE_CARD and _stored(charge, _DISPUTE_KEY) is None:
        data = {"status": "needs_response", "reason": "fraudulent", "created": now,
                "due_by": now + EVIDENCE_DAYS * 86400, "submissions": 0}
        _store(str(charge.id), _DISPUTE_KEY, data)
        dispute = _dispute(charge, data)
        logger.info("sandbox: card ..0259 paid %s; dispute %s opened", intent_id, dispute.id)
        announce("charge.dispute.created", _dispute_body(dispute))
        announce("charge.dispute.funds_withdrawn", _dispute_body(dispute))
    elif last4 == FRAUD_WARNING_CARD and _stored(charge, _WARNING_KEY) is None:
        data = {"actionable": True, "fraud_type": "made_with_stolen_card", "created": now}
        _store(str(charge.id), _WARNING_KEY, data)
        warning = _warning(charge, data)
        logger.info("sandbox: card ..5423 paid %s; early fraud warning %s", intent_id, warning.id)
        announce("radar.early_fraud_warning.created", {
            "id": warning.id, "object": "radar.early_fraud_warning", "charge": warning.charge_id,
            "payment_intent": warning.payment_intent_id, "actionable": True, "fraud_type": warning.fraud_type,
        })


def _dispute_body(dispute: Dispute) -> dict[str, Any]:
    # What Stripe's event would carry; the app reads the dispute back by its id anyway.
    return {"id": dispute.id, "object": "dispute", "charge": dispute.charge_id,
            "payment_intent": dispute.payment_intent_id, "amount": dispute.amount,
            "currency": dispute.currency, "status": dispute.status, "reason": dispute.reason}


def retrieve_dispute(dispute_id: str) -> Dispute:
    charge = _charge("ch_" + _suffix(dispute_id))
    data = _stored(charge, _DISPUTE_KEY)
    if data is None or not dispute_id.startswith("dp_"):
        # What Stripe answers for an unknown id (PaymentProviderError through the same path).
        return _call("retrieve_dispute", lambda: _client().v1.disputes.retrieve(dispute_id))  # type: ignore[return-value]
    return _dispute(charge, data)


def _recent_charges(limit: int) -> list[Any]:
    page = _call("list_charges", lambda: _client().v1.charges.list(params={"limit": limit}))
    return list(page.data)


def list_recent_disputes(limit: int) -> list[Dispute]:
    found = []
    for charge in _recent_charges(limit):
        data = _stored(charge, _DISPUTE_KEY)
        if data is not None:
            found.append(_dispute(charge, data))
    return found


def submit_evidence(dispute_id: str, evidence: dict[str, str]) -> Dispute:
    charge = _charge("ch_" + _suffix(dispute_id))
    data = _stored(charge, _DISPUTE_KEY)
    if data is None:
        return retrieve_dispute(dispute_id)  # raises as Stripe would for an unknown dispute
    text = evidence.get("uncategorized_text", "")
    data["submissions"] = int(data.get("submissions", 0)) + 1
    data["status"] = "won" if WINNING in text else "lost" if LOSING in text else "under_review"
    _store(str(charge.id), _DISPUTE_KEY, data)
    dispute = _dispute(charge, data)
    announce("charge.dispute.updated", _dispute_body(dispute))
    if dispute.status == "won":
        announce("charge.dispute.funds_reinstated", _dispute_body(dispute))
    if dispute.status in ("won", "lost"):
        announce("charge.dispute.closed", _dispute_body(dispute))
    return dispute


def retrieve_fraud_warning(warning_id: str) -> FraudWarning:
    charge = _charge("ch_" + _suffix(warning_id))
    data = _stored(charge, _WARNING_KEY)
    if data is None or not warning_id.startswith("issfr_"):
        return _call(  # type: ignore[return-value]
            "retrieve_fraud_warning", lambda: _client().v1.radar.early_fraud_warnings.retrieve(warning_id)
        )
    return _warning(charge, data)


def list_recent_fraud_warnings(limit: int) -> list[FraudWarning]:
    found = []
    for charge in _recent_charges(limit):
        data = _stored(charge, _WARNING_KEY)
        if data is not None:
            found.append(_warning(charge, data))
    return found


def signed_event(
    event_type: str, obj: dict[str, Any], *, secret: str, event_id: str = ""
) -> tuple[bytes, str]:
    """An event as Stripe sends it: the JSON body and its Stripe-Signature header."""
    now = int(time.time())
    event = {"id": event_id or f"evt_sandbox_{uuid.uuid4().hex}", "object": "event", "type": event_type,
             "created": now, "livemode": False, "data": {"object": obj}}
    body = json.dumps(event).encode()
    mac = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={mac}"


def announce(event_type: str, obj: dict[str, Any]) -> None:
    """Send an event to the app's webhook, as Stripe would, through the task queue (never inline
    in the request that paid). Without STRIPE_WEBHOOK_SECRET the webhook is off: reconciliation
    finds the dispute by listing."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        logger.info("sandbox: %s not sent (no STRIPE_WEBHOOK_SECRET); reconcile will find it", event_type)
        return
    try:
        enqueue_delivery(event_type, obj, f"evt_sandbox_{uuid.uuid4().hex}")
    except Exception:  # noqa: BLE001 - like a lost webhook: reconciliation still finds it
        logger.exception("sandbox: could not enqueue %s", event_type)


def enqueue_delivery(event_type: str, obj: dict[str, Any], event_id: str) -> None:
    """Hand one event to the task queue (tests replace this to deliver it themselves)."""
    deliver_sandbox_event.enqueue(event_type, obj, event_id)


@task()
def deliver_sandbox_event(event_type: str, obj: dict[str, Any], event_id: str) -> str:
    """POST one signed event to SITE_URL's webhook endpoint. Safe to run twice: the same event id
    is stored once by the endpoint."""
    body, signature = signed_event(event_type, obj, secret=settings.STRIPE_WEBHOOK_SECRET, event_id=event_id)
    url = settings.SITE_URL + reverse("wallet:stripe_webhook")
    request = urllib.request.Request(  # noqa: S310 - our own SITE_URL
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 # nosec B310
            return f"{event_type} delivered: {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        # One attempt, as localstripe's own webhooks: reconciliation lists what a lost event named.
        logger.warning("sandbox: %s to %s failed: %s", event_type, url, exc)
        return f"{event_type} not delivered"
