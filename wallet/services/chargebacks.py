"""What the webhook and reconciliation do with a Dispute or an early fraud warning read from Stripe.

Both paths call these with an object just read through the gateway (never an event body), in any
order and any number of times; each effect happens once (wallet.services.disputes for disputes, the
EarlyFraudWarning row and the refund's single-use request key for warnings). No transaction is open
on entry: Stripe may be called here.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction

from .. import payments
from ..emails import FRAUD_WARNING_OPS, enqueue_email
from ..exceptions import PaymentProviderError, WalletError
from ..models import CardRefund, EarlyFraudWarning, TopUp
from ..money import format_money
from . import holds, ledger
from .disputes import DisputeResult, apply_dispute
from .refunds import RefundAlreadySubmitted, refund_topup, refundable_amount
from .topups import attach_intent_by_metadata, settle_topup

logger = logging.getLogger(__name__)

FRAUD_HOLD_REASON = "Your card's bank reported a payment to your wallet as possibly fraudulent."


def _intent_of(*, payment_intent_id: str, charge_id: str) -> str:
    if payment_intent_id or not charge_id.startswith("ch_"):
        return payment_intent_id
    return payments.retrieve_charge(charge_id).payment_intent_id


def _settled_topup(intent_id: str) -> TopUp | None:
    """Our top-up of this intent, settled from Stripe first if we had not yet (the money arrived
    before the bank took it back: it is credited, then the dispute takes it)."""
    if not intent_id:
        return None
    topup = TopUp.objects.filter(stripe_payment_intent_id=intent_id).first()
    # Only what settle_topup itself never revisits: a top-up marked failed or canceled here may
    # have been paid at Stripe after all (a charge the bank disputes did succeed), and is settled.
    if topup is not None and topup.status in (TopUp.Status.SUCCEEDED, TopUp.Status.RETURNED):
        return topup
    intent = payments.retrieve_intent(intent_id)
    if topup is None:
        # Our create call's answer may not be recorded yet (or was lost): the intent names its
        # top-up in its metadata, as for payment events.
        topup = attach_intent_by_metadata(intent=intent)
        if topup is None:
            return None
    settle_topup(intent=intent)
    topup.refresh_from_db()
    return topup


def sync_dispute(dispute: payments.Dispute) -> DisputeResult | None:
    """Apply a Dispute read from Stripe. None when it is not on one of our top-ups."""
    intent_id = _intent_of(payment_intent_id=dispute.payment_intent_id, charge_id=dispute.charge_id)
    if _settled_topup(intent_id) is None:
        return None
    if intent_id != dispute.payment_intent_id:
        dispute = payments.Dispute(**{**dispute.__dict__, "payment_intent_id": intent_id})
    return apply_dispute(dispute=dispute)


def sync_fraud_warning(warning: payments.FraudWarning) -> EarlyFraudWarning | None:
    """An early fraud warning read from Stripe. When actionable: refund to the card what the wallet
    still holds of that payment (the existing refund path), hold the account and tell ops. Once."""
    intent_id = _intent_of(payment_intent_id=warning.payment_intent_id, charge_id=warning.charge_id)
    topup = _settled_topup(intent_id)
    if topup is None:
        logger.info("early fraud warning %s is not on one of our top-ups", warning.id)
        return None
    try:
        with transaction.atomic():
            row, _ = EarlyFraudWarning.objects.get_or_create(
                stripe_warning_id=warning.id,
                defaults={
                    "topup": topup, "fraud_type": warning.fraud_type[:64], "actionable": warning.actionable
                },
            )
    except IntegrityError:  # a twin delivery created it at the same moment
        row = EarlyFraudWarning.objects.get(stripe_warning_id=warning.id)
    if row.outcome:
        return row  # handled before
    if not warning.actionable:
        outcome = "Not actionable (already refunded or disputed at Stripe): nothing done."
    else:
        outcome = _refund_and_hold(row, topup, warning)
    EarlyFraudWarning.objects.filter(pk=row.pk, outcome="").update(outcome=outcome[:255])
    row.refresh_from_db()
    transaction.on_commit(lambda: enqueue_email(FRAUD_WARNING_OPS, row.pk))
    logger.error(
        "early fraud warning %s on top-up %s of user %s: %s", warning.id, topup.id, topup.user_id, outcome
    )
    return row


def _refund_and_hold(row: EarlyFraudWarning, topup: TopUp, warning: payments.FraudWarning) -> str:
    holds.hold_account(user=topup.user_id, reason=FRAUD_HOLD_REASON)
    made = CardRefund.objects.filter(request_key=_request_key(row)).first()
    if made is not None:
        # Handled again after its refund was made but before this outcome was written (a worker
        # killed in between, or a twin delivery): say what that refund did, and link it.
        return _refunded(row, made)
    with transaction.atomic():
        balance = ledger.lock_user(topup.user_id)
        amount = min(refundable_amount(TopUp.objects.get(pk=topup.pk)), balance)
    if amount <= 0:
        return "Account held; nothing of this payment is left in the wallet to refund."
    try:
        refund = refund_topup(
            topup=topup, amount=amount, staff=None, allowed_on_hold=True,
            reason=f"Early fraud warning {warning.id} ({warning.fraud_type or 'fraud'})",
            # Single use: a replayed event or a reconcile run never refunds it a second time.
            request_key=_request_key(row),
        )
    except RefundAlreadySubmitted:
        made = CardRefund.objects.filter(request_key=_request_key(row)).first()
        return _refunded(row, made) if made else "Account held; the refund was already made for this warning."
    except (WalletError, PaymentProviderError) as exc:
        return f"Account held; the refund of {format_money(amount)} was not made ({type(exc).__name__})."
    return _refunded(row, refund)


def _request_key(row: EarlyFraudWarning) -> str:
    return f"efw-{row.pk}"


def _refunded(row: EarlyFraudWarning, refund: CardRefund) -> str:
    EarlyFraudWarning.objects.filter(pk=row.pk).update(refund=refund)
    status = refund.get_status_display().lower()
    return f"Account held; {format_money(Decimal(refund.amount))} refunded to the card ({status})."
