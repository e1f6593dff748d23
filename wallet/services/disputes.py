"""Disputes (chargebacks) and what an account owes: the money the bank takes back, and gives back.

apply_dispute is the one door from a Stripe Dispute (read from Stripe by the caller, never an event
body) to the wallet; the webhook and reconciliation both call it, in any order, any number of times:
- funds withdrawn: the disputed amount, capped at what the top-up credited minus what was already
  refunded to the card (and what other disputes of it took), leaves the wallet as a "dispute" debit;
  what the balance cannot cover is recorded as owed (OwedBalance), the balance never below zero.
  The account is put on hold and the customer is emailed.
- funds reinstated (a dispute won): exactly what was taken comes back, the owed part included: the
  part still owed is cancelled, the rest (taken, or owed and already repaid) is credited.
Each step happens once: the Dispute row is unique per Stripe id and carries withdrawn_at and
reinstated_at, read and written under the user's row lock (then the TopUp, then the Dispute).

repay_owed runs in the transaction of every top-up credit: what is owed is repaid first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from .. import payments
from ..emails import DISPUTE_OPENED, enqueue_email
from ..exceptions import TopUpError, TopUpMismatch
from ..models import Dispute, LotKind, LotSource, OwedBalance, TopUp, TxType
from ..money import CENT, format_money
from . import holds, ledger, lots
from .refunds import refundable_amount

logger = logging.getLogger(__name__)

DISPUTE_HOLD_REASON = "A card payment was disputed with your bank and is being reviewed."


@dataclass(frozen=True)
class DisputeResult:
    dispute: Dispute
    withdrawn_now: bool = False
    reinstated_now: bool = False

    def __str__(self) -> str:
        steps = (("withdrawn", self.withdrawn_now), ("reinstated", self.reinstated_now))
        done = [word for word, flag in steps if flag]
        return f"dispute {self.dispute.stripe_dispute_id} {self.dispute.status}" + (
            f" ({', '.join(done)})" if done else ""
        )


def owed_amount(*, user) -> Decimal:
    """What the account owes now (0.00 when nothing)."""
    user_id = getattr(user, "pk", user)
    value = OwedBalance.objects.filter(user_id=user_id).values_list("amount", flat=True).first()
    return Decimal(value or 0).quantize(CENT)


def _locked_owed(user_id) -> OwedBalance:
    # Caller holds the user row lock: the get_or_create cannot race another writer of this row.
    owed, _ = OwedBalance.objects.select_for_update().get_or_create(user_id=user_id)
    owed.amount = Decimal(owed.amount).quantize(CENT)
    return owed


def _due(timestamp: int | None):
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


def _status(value: str) -> str:
    return value if value in Dispute.Status.values else Dispute.Status.UNKNOWN


def apply_dispute(*, dispute: payments.Dispute) -> DisputeResult | None:
    """Bring the wallet in line with a Dispute just read from Stripe. None when not one of ours.

    The dispute's top-up must be settled first (the caller settles it from Stripe: the money did
    arrive before the bank took it back); TopUpError otherwise, so the event is retried.
    """
    topup = TopUp.objects.filter(stripe_payment_intent_id=dispute.payment_intent_id).first()
    if not dispute.payment_intent_id or topup is None:
        logger.info("dispute %s is on %s: not one of our top-ups", dispute.id, dispute.payment_intent_id)
        return None
    with transaction.atomic():
        # Lock order everywhere: user row, then TopUp, then what hangs off them.
        balance = ledger.lock_user(topup.user_id)
        topup = TopUp.objects.select_for_update().get(pk=topup.pk)
        if topup.status == TopUp.Status.RETURNED:
            logger.warning("dispute %s on top-up %s, which was returned uncredited", dispute.id, topup.id)
        elif topup.status != TopUp.Status.SUCCEEDED:
            raise TopUpError("A dispute on a top-up that is not settled yet.")
        if dispute.currency != topup.currency.lower():
            raise TopUpMismatch("The disputed charge's currency does not match the top-up.")
        row, created = Dispute.objects.select_for_update().get_or_create(
            stripe_dispute_id=dispute.id,
            defaults={
                "topup": topup, "user_id": topup.user_id, "stripe_charge_id": dispute.charge_id,
                "disputed_amount": payments.from_minor(dispute.amount), "amount": Decimal("0.00"),
                "status": _status(dispute.status),
            },
        )
        row.status = _status(dispute.status)
        row.reason = dispute.reason[:64]
        row.evidence_due_by = _due(dispute.evidence_due_by)
        row.disputed_amount = payments.from_minor(dispute.amount)
        withdrawn_now = reinstated_now = False
        if dispute.funds_withdrawn and row.withdrawn_at is None:
            balance = _withdraw(row, topup, balance)
            withdrawn_now = True
        if dispute.funds_reinstated and row.withdrawn_at is not None and row.reinstated_at is None:
            _reinstate(row)
            reinstated_now = True
        row.save()
        if withdrawn_now and not reinstated_now:
            holds.hold_account(user=topup.user_id, reason=DISPUTE_HOLD_REASON)
            pk = row.pk
            transaction.on_commit(lambda: enqueue_email(DISPUTE_OPENED, pk))
    if withdrawn_now:
        logger.error(
            "dispute %s (%s) on top-up %s of user %s: %s taken, %s owed; account on hold",
            dispute.id, dispute.reason, topup.id, topup.user_id, row.taken_amount, row.owed_amount,
        )
    if reinstated_now:
        logger.warning("dispute %s won: %s given back to user %s", dispute.id, row.amount, topup.user_id)
    return DisputeResult(dispute=row, withdrawn_now=withdrawn_now, reinstated_now=reinstated_now)


def _withdraw(row: Dispute, topup: TopUp, balance: Decimal) -> Decimal:
    """Take the disputed amount (capped) from the balance, the rest as owed. Returns the new balance."""
    if topup.status == TopUp.Status.SUCCEEDED:
        # What it credited, minus refunds to the card and other disputes (this one is not withdrawn yet).
        cap = refundable_amount(topup)
    else:
        cap = Decimal("0.00")  # never credited: nothing of it is in the wallet to take back
    amount = min(row.disputed_amount, cap)
    # Issue 23: a dispute takes paid money only (that top-up's lot first); the rest is owed.
    take = min(amount, balance, lots.paid_left(topup.user_id))
    owe = amount - take
    if take > 0:
        row.debit_transaction = ledger.apply_change(
            user_id=topup.user_id,
            delta=-take,
            type=TxType.DISPUTE,
            description=(
                f"Card payment of {format_money(topup.amount, topup.currency)} disputed with your bank"
            ),
            stripe_payment_intent_id=topup.stripe_payment_intent_id or "",
            lots=lots.Draw(paid_only=True, first_topup_id=topup.pk),
        )
        balance -= take
    if owe > 0:
        owed = _locked_owed(topup.user_id)
        owed.amount += owe
        owed.save(update_fields=["amount", "updated_at"])
    row.amount, row.taken_amount, row.owed_amount = amount, take, owe
    row.withdrawn_at = timezone.now()
    return balance


def _reinstate(row: Dispute) -> None:
    """Give back exactly what the dispute took: cancel what is still owed of it, credit the rest."""
    owed = _locked_owed(row.user_id)
    cancel = min(owed.amount, row.owed_amount)
    back = row.amount - cancel
    if cancel > 0:
        owed.amount -= cancel
        owed.save(update_fields=["amount", "updated_at"])
    if back > 0:
        row.reinstatement_transaction = ledger.apply_change(
            user_id=row.user_id,
            delta=back,
            type=TxType.DISPUTE_REINSTATED,
            description="Dispute closed in your favour: the disputed amount is back in your wallet",
            stripe_payment_intent_id=row.topup.stripe_payment_intent_id or "",
            # Paid money of that top-up again: a new paid lot linked to it (refundable to its card).
            lots=lots.Fill(kind=LotKind.PAID, source=LotSource.DISPUTE_REINSTATEMENT, topup_id=row.topup_id),
        )
    row.reinstated_amount = row.amount
    row.reinstated_at = timezone.now()


def lock_topup_with_owed(*, intent_id: str) -> tuple[TopUp, Decimal]:
    """Lock the TopUp of `intent_id` (the caller holds the user's row lock) and read, in the same
    statement, what its user owes (0.00 when nothing). The top-up credit's hot path pays no extra
    query for disputes."""
    owed = OwedBalance.objects.filter(user_id=OuterRef("user_id")).values("amount")[:1]
    topup = (
        TopUp.objects.select_for_update(of=("self",))
        .annotate(owed_now=Subquery(owed))
        .get(stripe_payment_intent_id=intent_id)
    )
    return topup, Decimal(topup.owed_now or 0).quantize(CENT)


def repay_owed(*, user_id) -> Decimal:
    """In a credit's transaction (the user row already locked): repay what is owed from the balance
    first, as an "owed repayment" debit. Returns the amount repaid (0.00 when nothing was owed)."""
    owed = OwedBalance.objects.select_for_update().filter(user_id=user_id, amount__gt=0).first()
    if owed is None:
        return Decimal("0.00")
    ledger.lock_user(user_id)
    # Repaid from paid money only (issue 23): promotional credit never pays a bank's claim.
    pay = min(Decimal(owed.amount).quantize(CENT), lots.paid_left(user_id))
    if pay <= 0:
        return Decimal("0.00")
    ledger.apply_change(
        user_id=user_id,
        delta=-pay,
        type=TxType.OWED_REPAYMENT,
        description="Repayment of the amount owed after a disputed card payment",
        lots=lots.Draw(paid_only=True),
    )
    owed.amount = Decimal(owed.amount).quantize(CENT) - pay
    owed.save(update_fields=["amount", "updated_at"])
    logger.info("user %s repaid %s owed (%s still owed)", user_id, pay, owed.amount)
    return pay
