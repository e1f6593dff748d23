"""Shared set-up of the credit-lot tests: settled top-ups, grants, lots made to have expired."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from wallet import services
from wallet.models import CreditLot, TopUp
from wallet.payments import Intent, IntentStatus
from wallet.services import credits


def settled_topup(user, amount: str, intent_id: str) -> TopUp:
    topup = TopUp.objects.create(
        user=user, amount=Decimal(amount), currency="aed", idempotency_key=intent_id,
        stripe_payment_intent_id=intent_id,
    )
    minor = int(Decimal(amount) * 100)
    services.settle_topup(intent=Intent(id=intent_id, status=IntentStatus.SUCCEEDED, amount=minor,
                                        currency="aed", amount_received=minor))
    return topup


def give(user, amount: str, *, days: float | None = 30, staff=None, reason="welcome bonus"):
    expires = timezone.now() + timedelta(days=days) if days is not None else None
    return credits.grant(user=user, amount=amount, reason=reason, staff=staff, expires_at=expires)


def lot_of(entry) -> CreditLot:
    return CreditLot.objects.get(credit_transaction_id=entry.pk)


def make_expired(lot: CreditLot, ago=timedelta(seconds=1)) -> None:
    """Move a lot's expiry into the past (the clock, not the money: the lot's amounts are untouched)."""
    CreditLot.objects.filter(pk=lot.pk).update(expires_at=timezone.now() - ago)


def remaining(lot: CreditLot) -> Decimal:
    return CreditLot.objects.values_list("remaining", flat=True).get(pk=lot.pk)
