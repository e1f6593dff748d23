"""The ledger: credit, debit, adjust, and the one place that writes `wallet_balance`.

Every change locks the user's row, writes the new balance and an append-only ledger row carrying
`balance_after`, all in one transaction (apply_change). Amounts are Decimal quantized to 0.01.

The ledger knows nothing above it: what follows a change (the low-balance alert, the auto-recharge
trigger) listens to wallet.signals.balance_changed, sent only for a balance its owner watches
(User.wallet_watched, read in the same UPDATE), so an unwatched debit is two statements.

Credit lots (issue 23, wallet.services.lots): every change also fills or draws lots, in the same
transaction; on PostgreSQL inside the ledger row's INSERT statement, so still two statements. The
`lots` keyword says how (lots.Fill / Return / Draw); by default a credit opens a lot and a debit draws
in the spending order defined in wallet.services.lots.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from netcop_hub.db import prepared_cursor

from ..exceptions import BalanceLimitExceeded, InsufficientBalance, InvalidAmount
from ..models import TxType, WalletTransaction
from ..money import CENT, MAX_AMOUNT, format_money, to_money
from ..signals import balance_changed
from . import lots as lotrules

logger = logging.getLogger(__name__)


def positive(amount) -> Decimal:
    """`amount` as money, refusing zero and negatives."""
    money = to_money(amount)
    if money <= 0:
        raise InvalidAmount("The amount must be greater than zero.")
    return money


def _user_id(user) -> int:
    return getattr(user, "pk", user)


def max_balance() -> Decimal:
    """WALLET_MAX_BALANCE, never above what the balance column can hold."""
    return min(Decimal(settings.WALLET_MAX_BALANCE), MAX_AMOUNT)


def room_for(balance: Decimal) -> Decimal:
    """How much more a wallet holding `balance` may take under WALLET_MAX_BALANCE."""
    return max(max_balance() - balance, Decimal("0.00"))


def _over_limit(balance: Decimal, delta: Decimal, ceiling: Decimal) -> BalanceLimitExceeded:
    if ceiling >= MAX_AMOUNT:
        return BalanceLimitExceeded("The wallet cannot hold that much.")
    room = max(ceiling - balance, Decimal("0.00"))
    return BalanceLimitExceeded(
        f"That would take the balance to {format_money(balance + delta)}, above the wallet limit of "
        f"{format_money(ceiling)}. At most {format_money(room)} can be added."
    )


@lru_cache(maxsize=1)
def _pg_statements() -> tuple[str, str, list[Field]]:
    """PostgreSQL: the conditional balance UPDATE and the ledger row's INSERT, built once.

    Written as SQL rather than through the ORM because they run while the user's row is locked:
    the less Python between them, the shorter every other change to that wallet waits (issue 19).
    Names come from model metadata (quoted); every value is a parameter.
    """
    quote = connection.ops.quote_name
    users = quote(get_user_model()._meta.db_table)
    update = (
        f"UPDATE {users} SET wallet_balance = wallet_balance + %s, updated_at = %s "  # noqa: S608 # nosec B608
        "WHERE id = %s AND wallet_balance + %s BETWEEN 0 AND %s RETURNING wallet_balance, wallet_watched"
    )
    fields = list(WalletTransaction._meta.concrete_fields)
    insert = (
        f"INSERT INTO {quote(WalletTransaction._meta.db_table)} "  # noqa: S608 # nosec B608
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return update, insert, fields


def apply_change(
    *,
    user_id: int,
    delta: Decimal,
    type: str,
    description: str,
    stripe_payment_intent_id: str = "",
    created_by=None,
    savepoint: bool = True,
    ceiling: Decimal = MAX_AMOUNT,
    api_key_id: int | None = None,
    lots: lotrules.Rule | None = None,
) -> WalletTransaction:
    """Change one balance by `delta` and append its ledger row, atomically. Caller validated delta.

    The new balance must lie within 0..`ceiling` (InsufficientBalance below, BalanceLimitExceeded
    above). The default ceiling is what the column can hold (a NUMERIC overflow on PostgreSQL, a
    value no converter can read back on SQLite); credits a person asks for pass max_balance().
    savepoint=False (for callers composing this into their own transaction and letting every
    exception propagate out of it) saves the SAVEPOINT/RELEASE round trips on hot paths.
    api_key_id: the API key that caused the change (issue 21), recorded on the row; None for pages.
    """
    User = get_user_model()
    now = timezone.now()
    rule = lots or lotrules.default_rule(type=type, delta=delta)
    # A debit is never refused for the ceiling (a wallet above a lowered limit can still spend).
    ceiling = min(ceiling, MAX_AMOUNT) if delta > 0 else MAX_AMOUNT
    entry = WalletTransaction(
        user_id=user_id,
        amount=delta,
        type=type,
        description=description[:255],
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
        api_key_id=api_key_id,
    )
    with transaction.atomic(savepoint=savepoint):
        if connection.vendor == "postgresql":
            # The conditional UPDATE takes the row lock, refuses to go below zero (or above the
            # ceiling) and returns the new balance, computed exactly in NUMERIC. No row: refused,
            # nothing written. The lock is held until commit.
            update, insert, fields = _pg_statements()
            with prepared_cursor() as cursor:  # planned once per connection (netcop_hub.db)
                cursor.execute(update, [delta, now, user_id, delta, ceiling])
                row = cursor.fetchone()
                if row is not None:
                    entry.balance_after, watched = Decimal(row[0]).quantize(CENT), bool(row[1])
                    # Dated now, holding the lock: a wallet's rows are dated in the order their
                    # changes commit (the latest row's balance_after is the balance).
                    entry.created_at = timezone.now()
                    lotrules.pg_apply(
                        cursor, insert=insert, entry=entry, rule=rule, now=entry.created_at,
                        insert_params=[
                            f.get_db_prep_save(getattr(entry, f.attname), connection) for f in fields
                        ],
                    )
            if row is None:
                current = User.objects.filter(pk=user_id).values_list("wallet_balance", flat=True).first()
                if current is None:
                    raise User.DoesNotExist(f"No user {user_id}")
                if delta > 0:
                    raise _over_limit(current, delta, ceiling)
                raise InsufficientBalance("Insufficient balance.")
            entry._state.adding, entry._state.db = False, connection.alias
        else:
            # SQLite stores NUMERIC as REAL, so never let it do the arithmetic: read, compute in
            # Decimal, write the absolute value. The IMMEDIATE transaction already holds the
            # database's write lock, which serializes this read-modify-write.
            current, watched = (
                User.objects.select_for_update()
                .values_list("wallet_balance", "wallet_watched")
                .get(pk=user_id)
            )
            new_balance = (current + delta).quantize(CENT)
            if new_balance < 0:
                raise InsufficientBalance("Insufficient balance.")
            if new_balance > ceiling:
                raise _over_limit(current, delta, ceiling)
            User.objects.filter(pk=user_id).update(wallet_balance=new_balance, updated_at=now)
            entry.balance_after = new_balance
            entry.save(force_insert=True)
            lotrules.orm_apply(entry=entry, rule=rule, now=entry.created_at)
        new_balance = entry.balance_after
        if watched:
            # Still under the user lock: receivers (the low-balance flag, the auto-recharge trigger)
            # act in this transaction, so one crossing sends one alert however many debits race.
            balance_changed.send(
                sender=WalletTransaction, user_id=user_id, new_balance=new_balance, delta=delta, entry=entry
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
    lots: lotrules.Rule | None = None,
) -> WalletTransaction:
    """Add a positive `amount` to the user's wallet; returns the ledger row."""
    return apply_change(
        lots=lots,
        user_id=_user_id(user),
        delta=positive(amount),
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
    savepoint: bool = True,
    api_key_id: int | None = None,
    lots: lotrules.Rule | None = None,
) -> WalletTransaction:
    """Take a positive `amount` from the wallet; raises InsufficientBalance rather than go below 0."""
    return apply_change(
        lots=lots,
        user_id=_user_id(user),
        delta=-positive(amount),
        type=type,
        description=description,
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
        savepoint=savepoint,
        api_key_id=api_key_id,
    )


def adjust(*, user, amount, reason: str, staff) -> WalletTransaction:
    """A staff correction: a signed `amount` (credit if > 0, debit if < 0) with a mandatory reason.

    A credit may not take the balance above WALLET_MAX_BALANCE (BalanceLimitExceeded).
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount("A reason is required for every balance adjustment.")
    money = to_money(amount)
    if money == 0:
        raise InvalidAmount("The adjustment must not be zero.")
    return apply_change(
        user_id=_user_id(user),
        delta=money,
        type=TxType.ADJUSTMENT,
        description=f"Adjustment: {reason}",
        created_by=staff,
        ceiling=max_balance(),
    )


def lock_user(user_id) -> Decimal:
    """Lock the user row (first in the lock order) and return the current balance."""
    User = get_user_model()
    balance = User.objects.select_for_update().values_list("wallet_balance", flat=True).get(pk=user_id)
    return Decimal(balance).quantize(CENT)
