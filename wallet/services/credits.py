"""Promotional credit (issue 23): staff grants, promo codes, and the expiry chore.

All three go through ledger.apply_change with an explicit lot rule, under the user's row lock:
- grant: a promotional lot for one account, audited like an adjustment (staff, reason, ledger row);
- redeem_code: once per account (a unique row), at most max_redemptions in all (a conditional
  UPDATE of the code's counter under the code's row lock), idempotent (redeeming again returns the
  first redemption and credits nothing);
- expire_due_lots: the ONLY code that removes expired credit; one `expiry` row per lot per run, for
  what is left in it when read under the user's lock, so it never takes credit spent before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..emails import CREDIT_EXPIRING, enqueue_email
from ..exceptions import InvalidAmount, PromoCodeRefused
from ..models import (
    CreditLot,
    LotKind,
    LotSource,
    PromoCode,
    PromoRedemption,
    TopUp,
    TxType,
    WalletTransaction,
)
from ..money import CENT, format_money
from . import holds, ledger, lots

logger = logging.getLogger(__name__)

EXPIRY_BATCH = 500
WARN_BEFORE = timedelta(days=7)


def grant(*, user, amount, reason: str, staff, expires_at: datetime | None = None) -> WalletTransaction:
    """Give one account promotional credit (a "grant" row, created_by the staff member)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount("A reason is required for every grant.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidAmount("The expiry of a grant must be in the future.")
    return ledger.apply_change(
        user_id=getattr(user, "pk", user),
        delta=ledger.positive(amount),
        type=TxType.GRANT,
        description=f"Grant: {reason}",
        created_by=staff,
        ceiling=ledger.max_balance(),
        lots=lots.Fill(kind=LotKind.PROMOTIONAL, source=LotSource.GRANT, expires_at=expires_at),
    )


def normalize_code(text: str) -> str:
    return (text or "").strip().upper()


@dataclass(frozen=True)
class Redemption:
    redemption: PromoRedemption
    created: bool

    @property
    def amount(self) -> Decimal:
        return Decimal(self.redemption.lot.amount).quantize(CENT)


def redeem_code(*, user, code: str) -> Redemption:
    """Redeem `code` for `user`; PromoCodeRefused with the reason in words when it cannot be."""
    user_id = getattr(user, "pk", user)
    text = normalize_code(code)
    if not text:
        raise PromoCodeRefused("Enter a promo code.")
    holds.ensure_not_held(user=user_id)
    with transaction.atomic():
        # Lock order: the user row, then the code's row (every redemption of a code queues here).
        ledger.lock_user(user_id)
        promo = PromoCode.objects.select_for_update().filter(code=text).first()
        if promo is None:
            raise PromoCodeRefused("That promo code does not exist. Check the spelling and try again.")
        earlier = PromoRedemption.objects.select_related("lot").filter(code=promo, user_id=user_id).first()
        if earlier is not None:
            return Redemption(earlier, created=False)
        now = timezone.now()
        if promo.redeemable_until is not None and promo.redeemable_until <= now:
            raise PromoCodeRefused("That promo code has expired.")
        if (
            promo.new_accounts_only
            and TopUp.objects.filter(user_id=user_id, status=TopUp.Status.SUCCEEDED).exists()
        ):
            raise PromoCodeRefused("That promo code is only for new accounts that have not topped up yet.")
        # Backed by the promocode_redemptions_within_max constraint.
        taken = PromoCode.objects.filter(pk=promo.pk, redemptions__lt=F("max_redemptions")).update(
            redemptions=F("redemptions") + 1
        )
        if taken != 1:
            raise PromoCodeRefused("That promo code has been fully redeemed.")
        expires_at = now + timedelta(days=promo.credit_valid_days) if promo.credit_valid_days else None
        entry = ledger.apply_change(
            user_id=user_id,
            delta=Decimal(promo.amount).quantize(CENT),
            type=TxType.PROMO_CODE,
            description=f"Promo code {promo.code}",
            ceiling=ledger.max_balance(),
            lots=lots.Fill(
                kind=LotKind.PROMOTIONAL,
                source=LotSource.PROMO_CODE,
                expires_at=expires_at,
                promo_code_id=promo.pk,
            ),
        )
        lot = CreditLot.objects.get(credit_transaction_id=entry.pk)
        row = PromoRedemption.objects.create(code=promo, user_id=user_id, lot=lot)
    logger.info("user %s redeemed promo code %s for %s", user_id, promo.code, promo.amount)
    return Redemption(row, created=True)


def expire_lot(lot_id: int, *, now: datetime | None = None) -> WalletTransaction | None:
    """Expire what is left in one lot past its expiry: one `expiry` row, or None when nothing is left."""
    now = now or timezone.now()
    user_id = CreditLot.objects.values_list("user_id", flat=True).get(pk=lot_id)
    with transaction.atomic():
        ledger.lock_user(user_id)
        # Read under the user's lock: whatever a spend took first is no longer here to expire.
        lot = CreditLot.objects.get(pk=lot_id)
        if lot.expires_at is None or lot.expires_at > now or lot.remaining <= 0:
            return None
        return ledger.apply_change(
            user_id=user_id,
            delta=-Decimal(lot.remaining).quantize(CENT),
            type=TxType.EXPIRY,
            description=f"{lot.get_source_display()} credit of {format_money(lot.amount)} expired",
            lots=lots.Draw(lot_id=lot_id),
        )


def expire_due_lots(*, now: datetime | None = None) -> int:
    """The expiry chore: expire every lot past its expiry with something left. Returns rows written."""
    now = now or timezone.now()
    written = 0
    while True:
        due = list(
            CreditLot.objects.filter(remaining__gt=0, expires_at__lte=now)
            .order_by("expires_at", "id")
            .values_list("pk", flat=True)[:EXPIRY_BATCH]
        )
        batch = sum(expire_lot(lot_id, now=now) is not None for lot_id in due)
        written += batch
        if len(due) < EXPIRY_BATCH or not batch:
            return written


def warn_expiring_lots(*, now: datetime | None = None) -> int:
    """Queue the warning email of every lot expiring within WARN_BEFORE, once per lot (a conditional
    UPDATE claims it; the email task's own SentEmail key backs that up). Returns emails queued."""
    now = now or timezone.now()
    due = list(
        CreditLot.objects.filter(
            remaining__gt=0,
            expiry_warned_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + WARN_BEFORE,
        ).values_list("pk", flat=True)[:EXPIRY_BATCH]
    )
    queued = 0
    for lot_id in due:
        with transaction.atomic():
            claimed = CreditLot.objects.filter(pk=lot_id, expiry_warned_at__isnull=True)
            if claimed.update(expiry_warned_at=now):
                transaction.on_commit(partial(enqueue_email, CREDIT_EXPIRING, lot_id))
                queued += 1
    return queued


def run_expiry_chore() -> str:
    """The scheduled chore: expire what is due, then warn about what expires within 7 days."""
    expired = expire_due_lots()
    warned = warn_expiring_lots()
    return f"{expired} lot(s) expired, {warned} warning(s) queued"
