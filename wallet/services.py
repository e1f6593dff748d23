"""
The only code that changes a wallet balance.

Every change locks the user's row, writes the new balance and an append-only ledger row carrying
`balance_after`, all in one transaction. Amounts are Decimal quantized to 0.01; floats are refused.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from .exceptions import InsufficientFunds, InvalidAmount
from .models import TxType, WalletTransaction

__all__ = ["TxType", "to_money", "credit", "debit", "adjust", "CENT", "MAX_AMOUNT"]

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# max_digits=12, decimal_places=2 on every money column.
MAX_AMOUNT = Decimal("9999999999.99")


def to_money(value) -> Decimal:
    """Parse `value` (Decimal, int or decimal string) into a Decimal with exactly two places.

    Floats, booleans, NaN/Infinity, more than two decimal places and out-of-range values raise
    InvalidAmount. The sign is not checked here.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidAmount("Amounts must be Decimal or decimal strings, never float.")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount("Enter the amount as a number, e.g. 100.00.") from None
    elif not isinstance(value, Decimal):
        raise InvalidAmount("Enter the amount as a number, e.g. 100.00.")
    if not value.is_finite():
        raise InvalidAmount("Enter the amount as a number, e.g. 100.00.")
    quantized = value.quantize(CENT, rounding=ROUND_HALF_UP) if abs(value) < 10**12 else None
    if quantized is None or quantized != value:
        raise InvalidAmount("Amounts can have at most two decimal places.")
    if abs(quantized) > MAX_AMOUNT:
        raise InvalidAmount("That amount is too large.")
    return quantized


def _positive(amount) -> Decimal:
    money = to_money(amount)
    if money <= 0:
        raise InvalidAmount("The amount must be greater than zero.")
    return money


def _user_id(user) -> int:
    return getattr(user, "pk", user)


def _apply(
    *,
    user_id: int,
    delta: Decimal,
    type: str,
    description: str,
    stripe_payment_intent_id: str = "",
    created_by=None,
) -> WalletTransaction:
    """Change one balance by `delta` and append its ledger row, atomically. Caller validated delta."""
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One conditional UPDATE: it takes the row lock, refuses to go below zero and returns
            # the new balance, computed exactly in NUMERIC. The lock is held until commit.
            table = connection.ops.quote_name(User._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    # The table name comes from model metadata (quoted), values are parameters.
                    f"UPDATE {table} SET wallet_balance = wallet_balance + %s, updated_at = %s "  # noqa: S608
                    "WHERE id = %s AND wallet_balance + %s >= 0 RETURNING wallet_balance",
                    [delta, now, user_id, delta],
                )
                row = cursor.fetchone()
            if row is None:
                if not User.objects.filter(pk=user_id).exists():
                    raise User.DoesNotExist(f"No user {user_id}")
                raise InsufficientFunds("Insufficient balance.")
            new_balance = Decimal(row[0]).quantize(CENT)
        else:
            # SQLite stores NUMERIC as REAL, so never let it do the arithmetic: read, compute in
            # Decimal, write the absolute value. The IMMEDIATE transaction already holds the
            # database's write lock, which serializes this read-modify-write.
            current = (
                User.objects.select_for_update()
                .values_list("wallet_balance", flat=True)
                .get(pk=user_id)
            )
            new_balance = (current + delta).quantize(CENT)
            if new_balance < 0:
                raise InsufficientFunds("Insufficient balance.")
            User.objects.filter(pk=user_id).update(wallet_balance=new_balance, updated_at=now)
        entry = WalletTransaction.objects.create(
            user_id=user_id,
            amount=delta,
            type=type,
            description=description[:255],
            balance_after=new_balance,
            stripe_payment_intent_id=stripe_payment_intent_id,
            created_by=created_by,
        )
    logger.info(
        "ledger %s user=%s amount=%s balance_after=%s", entry.type, user_id, delta, new_balance
    )
    return entry


def credit(
    *,
    user,
    amount,
    type: str,
    description: str = "",
    stripe_payment_intent_id: str = "",
    created_by=None,
) -> WalletTransaction:
    """Add a positive `amount` to the user's wallet; returns the ledger row."""
    return _apply(
        user_id=_user_id(user),
        delta=_positive(amount),
        type=type,
        description=description,
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
    )


def debit(
    *,
    user,
    amount,
    type: str,
    description: str = "",
    stripe_payment_intent_id: str = "",
    created_by=None,
) -> WalletTransaction:
    """Take a positive `amount` from the wallet; raises InsufficientFunds rather than go below 0."""
    return _apply(
        user_id=_user_id(user),
        delta=-_positive(amount),
        type=type,
        description=description,
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
    )


def adjust(*, user, amount, reason: str, staff) -> WalletTransaction:
    """A staff correction: a signed `amount` (credit if > 0, debit if < 0) with a mandatory reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount("A reason is required for every balance adjustment.")
    money = to_money(amount)
    if money == 0:
        raise InvalidAmount("The adjustment must not be zero.")
    return _apply(
        user_id=_user_id(user),
        delta=money,
        type=TxType.ADJUSTMENT,
        description=f"Adjustment: {reason}",
        created_by=staff,
    )
