"""Refunds to the card: refund_topup and its retries, and refunds made in Stripe's dashboard.

A refund debits the wallet before Stripe is asked (so the money cannot be spent twice) and is
reversed by a new credit row when Stripe refuses it; nothing is ever edited in the ledger.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import payments
from ..emails import CARD_REFUND, enqueue_email
from ..exceptions import (
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
    RefundNotAllowed,
    TopUpError,
    TopUpMismatch,
)
from ..models import CardRefund, Dispute, TopUp, TxType
from ..money import CENT, format_money
from ..payments import RefundStatus
from . import holds, ledger, lots

logger = logging.getLogger(__name__)


def _refunds_taken(topup: TopUp) -> Decimal:
    # Summed in Python: SQLite would add NUMERIC as REAL. Pending refunds already debited the wallet.
    amounts = topup.refunds.filter(
        status__in=[CardRefund.Status.SUCCEEDED, CardRefund.Status.PENDING]
    ).values_list("amount", flat=True)
    return sum((Decimal(a).quantize(CENT) for a in amounts), Decimal("0.00"))


def _disputes_taken(topup: TopUp) -> Decimal:
    # Issue 20: what the bank already took back through disputes (net of those won) went to the card.
    rows = Dispute.objects.filter(topup=topup, withdrawn_at__isnull=False).values_list(
        "amount", "reinstated_amount"
    )
    return sum((Decimal(a).quantize(CENT) - Decimal(r).quantize(CENT) for a, r in rows), Decimal("0.00"))


def refundable_amount(topup: TopUp) -> Decimal:
    """How much of a settled top-up can still go back to the card (ignoring the wallet balance):
    what it credited, minus refunds to the card and what disputes took back."""
    if topup.status != TopUp.Status.SUCCEEDED:
        return Decimal("0.00")
    return max(topup.amount - _refunds_taken(topup) - _disputes_taken(topup), Decimal("0.00"))


class RefundAlreadySubmitted(RefundNotAllowed):
    """The request_key was used before: this is a repeated submit of the same refund form."""


# Stripe honours an idempotency key for 24 h: past this age a pending refund is never re-created
# automatically (a re-create could refund the card twice); a person checks it in Stripe instead.
REFUND_RETRY_WINDOW = timedelta(hours=20)
NEEDS_REVIEW = "Needs review: "


def refund_topup(
    *, topup, amount, reason: str, staff, customer_reason: str = "", request_key: str | None = None,
    allowed_on_hold: bool = False,
):
    """Refund (part of) a settled top-up to the card; returns the CardRefund.

    `reason` is the internal note (staff only); `customer_reason` one of
    CardRefund.CustomerReason, the words the customer reads in their history and refund email.

    Order, so that a failure at any step neither creates nor loses money:
    1. one transaction: validate the caps, record the CardRefund (pending) and debit the wallet;
    2. outside any transaction: ask Stripe, with the refund record's id as the idempotency key;
    3. Stripe accepted -> succeeded; Stripe refused -> the debit is reversed by a new credit row and
       the refund is failed; Stripe unreachable -> it stays pending (the wallet stays debited, as the
       money may have left) and `retry_pending_refund` (run by reconcile_topups) asks again with the
       same key, which real Stripe answers with the original refund.
    `request_key` (optional, single-use) is stored with the refund in the debit's transaction: a
    second call with the same key debits nothing and raises RefundAlreadySubmitted.
    Raises RefundNotAllowed (over a cap, not settled, no reason) or InvalidAmount; AccountOnHold or
    AccountOwesMoney for a held or owing account (issue 20), unless `allowed_on_hold` (the early
    fraud warning's own refund, made as the account is held).
    """
    if not allowed_on_hold:
        holds.ensure_can_spend(user=topup.user_id)
    reason = (reason or "").strip()
    if not reason:
        raise RefundNotAllowed("A reason is required for every refund.")
    if customer_reason and customer_reason not in CardRefund.CustomerReason.values:
        raise RefundNotAllowed("Choose a reason for the customer from the list.")
    money = ledger.positive(amount)
    try:
        refund, locked = _record_refund(topup, money, reason, customer_reason, staff, request_key)
    except IntegrityError:
        # The unique request_key backs up the check in _record_refund; the transaction rolled back.
        if request_key and CardRefund.objects.filter(request_key=request_key).exists():
            raise RefundAlreadySubmitted("This refund was already submitted.") from None
        raise
    logger.info("card refund %s of topup %s for %s requested by %s", refund.id, locked.id, money, staff)
    return _send_refund(refund)


def _record_refund(topup, money: Decimal, reason: str, customer_reason: str, staff, request_key):
    """One transaction: check the caps and the request key, record the pending refund, debit."""
    with transaction.atomic():
        # Lock order everywhere: user row, then TopUp.
        balance = ledger.lock_user(topup.user_id)
        if request_key and CardRefund.objects.filter(request_key=request_key).exists():
            raise RefundAlreadySubmitted("This refund was already submitted.")
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
        if locked.status != TopUp.Status.SUCCEEDED or not locked.stripe_payment_intent_id:
            raise RefundNotAllowed("Only a succeeded top-up can be refunded to the card.")
        remainder = refundable_amount(locked)
        if money > remainder:
            raise RefundNotAllowed(
                f"At most {format_money(remainder, locked.currency)} of this top-up can still be "
                f"refunded ({format_money(money, locked.currency)} asked)."
            )
        if money > balance:
            raise RefundNotAllowed(
                f"The wallet holds only {format_money(balance, locked.currency)}: a refund to the card "
                f"cannot exceed the current balance ({format_money(money, locked.currency)} asked)."
            )
        # Issue 23: only the paid money of this top-up's lot goes back to its card, never
        # promotional credit and never another top-up's money.
        left = lots.paid_left(locked.user_id, topup_id=locked.pk)
        if money > left:
            raise RefundNotAllowed(
                f"Only {format_money(left, locked.currency)} of this top-up's paid money is still in the "
                f"wallet: a refund to its card cannot exceed that "
                f"({format_money(money, locked.currency)} asked)."
            )
        refund = CardRefund.objects.create(
            topup=locked,
            amount=money,
            reason=reason[:255],
            customer_reason=customer_reason,
            requested_by=staff,
            request_key=request_key or None,
        )
        # The customer reads the description: the chosen customer reason, never the internal note.
        refund.debit_transaction = ledger.apply_change(
            user_id=locked.user_id,
            delta=-money,
            type=TxType.CARD_REFUND,
            description=(
                f"Refund to card: {refund.get_customer_reason_display()}"
                if customer_reason
                else "Refund to card"
            ),
            stripe_payment_intent_id=locked.stripe_payment_intent_id,
            created_by=staff,
            lots=lots.Draw(topup_id=locked.pk),
        )
        refund.save(update_fields=["debit_transaction", "updated_at"])
    return refund, locked


def retry_pending_refund(refund, *, now=None):
    """Bring a refund left pending (outage, or Stripe said pending) in line with Stripe.

    Known Stripe refund id: read it from Stripe and finish it as Stripe says. Unknown id: create it
    again with the same idempotency key, but only within REFUND_RETRY_WINDOW (Stripe forgets keys
    after 24 h; a re-create then could refund the card twice). On this path a 4xx from Stripe is not
    a refusal that reverses the debit (the first attempt may have refunded the card): the refund
    stays pending with failure_reason "Needs review: ..." for a person.
    """
    refund.refresh_from_db()
    if refund.status != CardRefund.Status.PENDING:
        return refund
    if refund.stripe_refund_id:
        try:
            result = payments.retrieve_refund(refund.stripe_refund_id)
        except (PaymentDeclined, PaymentProviderError):
            return _needs_review(refund.id, "Stripe refused to show the refund; check it in Stripe.")
        return apply_stripe_refund(refund.id, result)
    if refund.failure_reason.startswith(NEEDS_REVIEW):
        return refund  # a person decides; reported again by every reconcile run
    if (now or timezone.now()) - refund.created_at >= REFUND_RETRY_WINDOW:
        return _needs_review(
            refund.id, "pending too long to retry safely (Stripe's idempotency window); check it in Stripe."
        )
    return _send_refund(refund, first_attempt=False)


def return_uncredited(refund_id):
    """Send back to the card a payment settle_topup could not credit (its refund has no debit).

    Runs after settle's commit. Stripe unreachable: the refund stays pending and reconcile_topups
    retries it with the same idempotency key; Stripe refusing it: a person looks at it.
    """
    refund = CardRefund.objects.select_related("topup").get(pk=refund_id)
    try:
        return _send_refund(refund)
    except Exception:  # noqa: BLE001 - runs on commit: the refund stays pending for reconcile
        logger.exception("could not return uncredited topup %s to the card", refund.topup_id)
        return refund


def _needs_review(refund_id, why: str):
    """Leave a pending refund pending (wallet stays debited) and say why a person must look at it."""
    reason = (why if why.startswith(NEEDS_REVIEW) else NEEDS_REVIEW + why)[:255]
    CardRefund.objects.filter(pk=refund_id, status=CardRefund.Status.PENDING).update(
        failure_reason=reason, updated_at=timezone.now()
    )
    logger.error("card refund %s needs review: %s", refund_id, why)
    return CardRefund.objects.select_related("topup").get(pk=refund_id)


def apply_stripe_refund(refund_id, result):
    """Finish our refund as Stripe's Refund object says: only "succeeded" is success.

    "failed"/"canceled": refused, the debit is reversed (once). Anything else (pending,
    requires_action): stays pending with the Stripe refund id recorded, to be read again later.
    """
    if result.status == RefundStatus.SUCCEEDED:
        return _finish_refund(refund_id, stripe_refund_id=result.id)
    if result.status in (RefundStatus.FAILED, RefundStatus.CANCELED):
        return _finish_refund(
            refund_id, stripe_refund_id=result.id, refused=f"Stripe reported the refund {result.status}."
        )
    CardRefund.objects.filter(pk=refund_id, status=CardRefund.Status.PENDING).update(
        stripe_refund_id=result.id, updated_at=timezone.now()
    )
    logger.info("card refund %s is %s at Stripe (%s)", refund_id, result.status, result.id)
    return CardRefund.objects.select_related("topup").get(pk=refund_id)


def _send_refund(refund, *, first_attempt: bool = True):
    topup = refund.topup
    try:
        result = payments.create_refund(
            payment_intent_id=topup.stripe_payment_intent_id,
            amount_minor=payments.to_minor(refund.amount),
            idempotency_key=f"refund-{refund.id}",
            metadata={"card_refund_id": str(refund.id), "topup_id": str(topup.id)},
        )
    except PaymentProviderUnavailable:
        # We cannot know whether Stripe made it: keep the debit, keep it pending, retry later.
        logger.warning("card refund %s left pending: Stripe unreachable", refund.id)
        return refund
    except (PaymentDeclined, PaymentProviderError):
        if refund.debit_transaction_id is None:
            # Nothing was debited to reverse: the customer's money is still out. A person acts.
            return _needs_review(
                refund.id, "Stripe refused to return an uncredited payment; refund it in Stripe."
            )
        if not first_attempt:
            # A retry's 4xx proves nothing: the first attempt may have refunded the card.
            return _needs_review(refund.id, "Stripe refused the retried refund; check it in Stripe.")
        return _finish_refund(refund.id, refused="Stripe refused the refund.")
    return apply_stripe_refund(refund.id, result)


def _finish_refund(refund_id, *, stripe_refund_id: str = "", refused: str = ""):
    """Mark a pending refund succeeded, or failed with its debit reversed (one transaction).

    A refund already marked succeeded that Stripe later reports failed is reversed too: the
    conditional status update (pending/succeeded -> failed) lets exactly one caller credit it back.
    """
    user_id = CardRefund.objects.values_list("topup__user_id", flat=True).get(pk=refund_id)
    with transaction.atomic():
        ledger.lock_user(user_id)
        refund = CardRefund.objects.select_for_update().get(pk=refund_id)
        if not refused:
            if refund.status != CardRefund.Status.PENDING:
                return refund  # another retry finished it first
            refund.status = CardRefund.Status.SUCCEEDED
            refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
            refund.failure_reason = ""
            refund.save(update_fields=["status", "stripe_refund_id", "failure_reason", "updated_at"])
            logger.info("card refund %s succeeded: %s", refund.id, refund.stripe_refund_id)
            if refund.debit_transaction_id is not None:
                # Tell the customer once the card refund is confirmed (never for an uncredited
                # payment sent back, which has its own status on the top-up). A task sends it.
                transaction.on_commit(lambda: enqueue_email(CARD_REFUND, refund_id))
            return refund
        claimed = CardRefund.objects.filter(
            pk=refund_id,
            status__in=[CardRefund.Status.PENDING, CardRefund.Status.SUCCEEDED],
            reversal_transaction__isnull=True,
            debit_transaction__isnull=False,
        ).update(status=CardRefund.Status.FAILED)
        if claimed != 1:
            if refund.debit_transaction_id is None and refund.status == CardRefund.Status.PENDING:
                # An uncredited payment's refund that Stripe failed: the money is still out.
                return _needs_review(
                    refund.id, f"{refused} The payment was never credited; refund it in Stripe."
                )
            return refund  # already failed and reversed
        debit = refund.debit_transaction
        if debit is None:  # cannot happen: the claim above required a debit
            raise RuntimeError(f"card refund {refund_id} claimed without a debit")
        # Stripe's words stay on the refund (failure_reason) for staff; the customer reads this.
        refund.reversal_transaction = ledger.apply_change(
            user_id=user_id,
            delta=-debit.amount,
            type=TxType.CARD_REFUND_REVERSAL,
            description="Refund reversed: the refund to your card did not go through",
            created_by=refund.requested_by,
            lots=lots.Return(debit.pk),  # back into the top-up's lot it came from
        )
        refund.status = CardRefund.Status.FAILED
        refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
        refund.failure_reason = refused[:255]
        refund.save(
            update_fields=[
                "status", "stripe_refund_id", "reversal_transaction", "failure_reason", "updated_at"
            ]
        )
        logger.warning("card refund %s failed and was reversed: %s", refund.id, refused)
        return refund


def record_external_refund(
    *, payment_intent_id: str, charge_id: str, amount_refunded_minor: int, currency: str
):
    """Bring the ledger in line with a charge refunded outside the app (e.g. Stripe's dashboard).

    `amount_refunded_minor` is the charge's cumulative refunded total. Whatever our CardRefund rows
    (succeeded or pending) don't already account for is recorded once as a CardRefund without a
    requester and debited as type refund. The money has already left through Stripe, yet a balance
    can never go below zero: when the wallet holds less, only the balance is debited and the
    shortfall is written on the refund (failure_reason) and logged at ERROR for ops.
    Repeats and out-of-order deliveries are no-ops: the difference is computed under the locks.
    Returns the new CardRefund, or None when there was nothing new.
    """
    topup_user = TopUp.objects.values_list("user_id", flat=True).get(
        stripe_payment_intent_id=payment_intent_id
    )
    with transaction.atomic():
        balance = ledger.lock_user(topup_user)
        topup = TopUp.objects.select_for_update().get(stripe_payment_intent_id=payment_intent_id)
        if topup.status == TopUp.Status.RETURNED:
            logger.info("refund on %s: top-up returned uncredited, nothing to debit", payment_intent_id)
            return None
        if topup.status != TopUp.Status.SUCCEEDED:
            raise TopUpError("A refund for a top-up that is not settled yet.")
        if currency.lower() != topup.currency.lower():
            raise TopUpMismatch("The refunded charge's currency does not match the top-up.")
        refunded = min(payments.from_minor(amount_refunded_minor), topup.amount)
        new = refunded - _refunds_taken(topup)
        if new <= 0:
            return None
        # Only what is left of this top-up's paid lot (issue 23); the rest is the shortfall.
        take = min(new, balance, lots.paid_left(topup.user_id, topup_id=topup.pk))
        shortfall = new - take
        refund = CardRefund.objects.create(
            topup=topup,
            amount=new,
            reason="Refunded in Stripe (outside the app)",
            requested_by=None,
            status=CardRefund.Status.SUCCEEDED,
            failure_reason=(
                f"Shortfall {format_money(shortfall, topup.currency)}: the balance was lower than the refund."
                if shortfall
                else ""
            ),
        )
        if take > 0:
            refund.debit_transaction = ledger.apply_change(
                user_id=topup.user_id,
                delta=-take,
                type=TxType.CARD_REFUND,
                description=f"Refund to card made in Stripe ({charge_id})",
                stripe_payment_intent_id=payment_intent_id,
                lots=lots.Draw(topup_id=topup.pk),
            )
            refund.save(update_fields=["debit_transaction", "updated_at"])
    if shortfall:
        logger.error(
            "external refund on %s: %s refunded but the wallet held only %s (shortfall %s)",
            payment_intent_id, new, take, shortfall,
        )
    else:
        logger.info("external refund on %s recorded: %s", payment_intent_id, new)
    return refund
