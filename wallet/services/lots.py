"""Credit lots inside the ledger's transaction (issue 23): which lots a ledger row fills or draws.

Called only by ledger.apply_change, with the user's row already locked and the ledger row written in
the same statement (PostgreSQL) or just before (SQLite): lots are only ever written under that lock,
so they need no lock of their own.

THE SPENDING ORDER (the one place it is defined; SPENDING_ORDER_SQL and spending_order() say the
same thing for the two databases): promotional before paid, then the soonest expiry first (no expiry
last), then the oldest, then the lowest id.

THE EXPIRY RULE: a debit never draws from a lot whose expires_at has passed, even before the expiry
chore ran. The balance still counts such a lot until the chore (the only code that removes expired
credit) writes its `expiry` row, so a debit the balance could pay may be refused when the unexpired
lots cannot: InsufficientBalance, nothing written.

RETURNS (Return): a refund of a debit (a failed agent run, a card refund Stripe refused) puts the
money back into the very lots it came from, the last drawn first (paid first). A lot that has
expired meanwhile gets its share back too, but stays expired: it is not spendable, and the next
expiry chore run writes the `expiry` row for it. Money drawn before lots existed comes back as a new
paid lot (source "return").

A card refund draws with Draw(topup_id=...): only the paid lots of that top-up, never promotional
credit. A dispute draws Draw(paid_only=True, first_topup_id=...): that top-up's paid lots first, then
other paid money (the bank already took the money back: a customer who still holds paid money should
not be left owing and blocked), never promotional credit; what paid money cannot cover is owed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from uuid import UUID

from django.db import connection
from django.db.models import Case, F, IntegerField, Min, Q, Sum, Value, When
from django.utils import timezone

from ..exceptions import InsufficientBalance
from ..models import CreditLot, LotAllocation, LotKind, LotSource, TxType, WalletTransaction
from ..money import CENT


@dataclass(frozen=True)
class Fill:
    """A credit that opens a new lot."""

    kind: str = LotKind.PAID
    source: str = LotSource.ADJUSTMENT
    expires_at: datetime | None = None
    topup_id: UUID | None = None
    promo_code_id: int | None = None


@dataclass(frozen=True)
class Return:
    """A credit that gives back (part of) what the ledger row `transaction_id` drew."""

    transaction_id: UUID


@dataclass(frozen=True)
class Draw:
    """A debit. Default: every unexpired lot in the spending order. topup_id: only that top-up's paid
    lots; paid_only: only paid lots (with first_topup_id: that top-up's lots first, a dispute);
    lot_id: that one lot, expired or not (the expiry chore)."""

    topup_id: UUID | None = None
    paid_only: bool = False
    lot_id: int | None = None
    first_topup_id: UUID | None = None


Rule = Fill | Return | Draw

# What a credit of each type opens when the caller names no lot.
_DEFAULT_SOURCE: dict[str, str] = {
    TxType.TOP_UP: LotSource.TOP_UP,
    TxType.ADJUSTMENT: LotSource.ADJUSTMENT,
    TxType.DISPUTE_REINSTATED: LotSource.DISPUTE_REINSTATEMENT,
}

SPENDING_ORDER_SQL = "kind = 'paid', expires_at ASC NULLS LAST, created_at, id"
RETURN_ORDER_SQL = "l.kind = 'paid' DESC, l.expires_at DESC NULLS FIRST, l.created_at DESC, l.id DESC"


def spending_order() -> list:
    """SPENDING_ORDER_SQL for the ORM (SQLite sorts NULL first unless told)."""
    paid_last = Case(When(kind=LotKind.PAID, then=Value(1)), default=Value(0), output_field=IntegerField())
    return [paid_last.asc(), F("expires_at").asc(nulls_last=True), "created_at", "id"]


def default_rule(*, type: str, delta: Decimal) -> Rule:
    if delta < 0:
        return Draw()
    return Fill(source=_DEFAULT_SOURCE.get(type, str(LotSource.RETURN)))


def _draw_filter(rule: Draw, now: datetime) -> tuple[str, list, Q]:
    """SQL condition (with params) and the ORM Q selecting the lots a Draw may take from."""
    if rule.lot_id is not None:
        return "id = %s", [rule.lot_id], Q(pk=rule.lot_id)
    if rule.topup_id is not None:
        return (
            "kind = 'paid' AND topup_id = %s",
            [rule.topup_id],
            Q(kind=LotKind.PAID, topup_id=rule.topup_id),
        )
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    if rule.paid_only:
        return "kind = 'paid'", [], Q(kind=LotKind.PAID)
    return "(expires_at IS NULL OR expires_at > %s)", [now], unexpired


@lru_cache(maxsize=1)
def _names() -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return (
        quote(CreditLot._meta.db_table),
        quote(LotAllocation._meta.db_table),
        quote(WalletTransaction._meta.db_table),
    )


# --- PostgreSQL: the ledger row's INSERT and the lot work in ONE statement (one round trip) --------


def pg_apply(cursor, *, insert: str, insert_params: list, entry: WalletTransaction, rule: Rule, now) -> None:
    """Run the ledger row's INSERT (`insert`) together with the lots it fills or draws."""
    lots, allocs, _ = _names()
    amount = abs(entry.amount)
    head = f"WITH tx AS ({insert})"
    if isinstance(rule, Fill):
        sql = (
            f"{head}, lot AS (INSERT INTO {lots} (user_id, kind, source, amount, remaining, expires_at, "  # noqa: S608 # nosec B608
            "topup_id, promo_code_id, credit_transaction_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id) "
            f"INSERT INTO {allocs} (transaction_id, lot_id, amount) SELECT %s, id, %s FROM lot RETURNING %s"
        )
        params = [
            *insert_params,
            entry.user_id,
            rule.kind,
            rule.source,
            amount,
            amount,
            rule.expires_at,
            rule.topup_id,
            rule.promo_code_id,
            entry.pk,
            now,
            entry.pk,
            amount,
            amount,
        ]
    elif isinstance(rule, Return):
        sql = (
            f"{head}, src AS (SELECT a.lot_id, a.amount, "  # noqa: S608 # nosec B608
            f"SUM(a.amount) OVER (ORDER BY {RETURN_ORDER_SQL}) AS upto "
            f"FROM {allocs} a JOIN {lots} l ON l.id = a.lot_id WHERE a.transaction_id = %s), "
            "give AS (SELECT lot_id, LEAST(amount, %s - (upto - amount)) AS amount FROM src "
            "WHERE upto - amount < %s), "
            f"upd AS (UPDATE {lots} l SET remaining = l.remaining + give.amount FROM give "
            "WHERE l.id = give.lot_id RETURNING l.id, give.amount), "
            f"ins AS (INSERT INTO {allocs} (transaction_id, lot_id, amount) SELECT %s, id, amount FROM upd "
            "RETURNING amount) SELECT COALESCE(SUM(amount), 0) FROM ins"
        )
        params = [*insert_params, rule.transaction_id, amount, amount, entry.pk]
    else:
        condition, condition_params, _ = _draw_filter(rule, now)
        # A preferred top-up's lots come first; a constant otherwise, so the order is the same.
        prefer = "topup_id IS DISTINCT FROM %s, " if rule.first_topup_id is not None else ""
        prefer_params = [rule.first_topup_id] if prefer else []
        sql = (
            f"{head}, open AS (SELECT id, remaining, "  # noqa: S608 # nosec B608
            f"SUM(remaining) OVER (ORDER BY {prefer}{SPENDING_ORDER_SQL}) AS upto "
            f"FROM {lots} WHERE user_id = %s AND remaining > 0 AND {condition}), "
            "take AS (SELECT id, LEAST(remaining, %s - (upto - remaining)) AS amount FROM open "
            "WHERE upto - remaining < %s), "
            f"upd AS (UPDATE {lots} l SET remaining = l.remaining - take.amount FROM take "
            "WHERE l.id = take.id RETURNING l.id, take.amount), "
            f"ins AS (INSERT INTO {allocs} (transaction_id, lot_id, amount) SELECT %s, id, amount FROM upd "
            "RETURNING amount) SELECT COALESCE(SUM(amount), 0) FROM ins"
        )
        params = [*insert_params, *prefer_params, entry.user_id, *condition_params, amount, amount, entry.pk]
    cursor.execute(sql, params)
    done = Decimal(cursor.fetchone()[0]).quantize(CENT)
    _settle_shortfall(entry, rule, amount - done, now)


# --- SQLite (and any other database): the same work through the ORM -------------------------------


def orm_apply(*, entry: WalletTransaction, rule: Rule, now) -> None:
    """The lot work for a ledger row already saved."""
    amount = abs(entry.amount)
    if isinstance(rule, Fill):
        _open_lot(entry, rule, amount, now)
        return
    if isinstance(rule, Return):
        drawn = list(
            LotAllocation.objects.filter(transaction_id=rule.transaction_id)
            .select_related("lot")
            .order_by(
                Case(
                    When(lot__kind=LotKind.PAID, then=Value(0)), default=Value(1), output_field=IntegerField()
                ),
                F("lot__expires_at").desc(nulls_first=True),
                "-lot__created_at",
                "-lot__id",
            )
        )
        pairs = [(a.lot, Decimal(a.amount).quantize(CENT)) for a in drawn]
        sign = 1
    else:
        _, _, condition = _draw_filter(rule, now)
        order = spending_order()
        if rule.first_topup_id is not None:
            preferred = Case(When(topup_id=rule.first_topup_id, then=Value(0)), default=Value(1))
            order = [preferred.asc(), *order]
        open_lots = CreditLot.objects.filter(condition, user_id=entry.user_id, remaining__gt=0)
        open_lots = open_lots.order_by(*order)
        pairs = [(lot, Decimal(lot.remaining).quantize(CENT)) for lot in open_lots]
        sign = -1
    left = amount
    moves = []
    for lot, available in pairs:
        if left <= 0:
            break
        step = min(available, left)
        lot.remaining = (Decimal(lot.remaining) + sign * step).quantize(CENT)
        moves.append(LotAllocation(transaction=entry, lot=lot, amount=step))
        left -= step
    if moves:
        CreditLot.objects.bulk_update([m.lot for m in moves], ["remaining"])
        LotAllocation.objects.bulk_create(moves)
    _settle_shortfall(entry, rule, left, now)


def _open_lot(entry: WalletTransaction, rule: Fill, amount: Decimal, now) -> CreditLot:
    lot = CreditLot.objects.create(
        user_id=entry.user_id,
        kind=rule.kind,
        source=rule.source,
        amount=amount,
        remaining=amount,
        expires_at=rule.expires_at,
        topup_id=rule.topup_id,
        promo_code_id=rule.promo_code_id,
        credit_transaction=entry,
        created_at=now,
    )
    LotAllocation.objects.create(transaction=entry, lot=lot, amount=amount)
    return lot


def _settle_shortfall(entry: WalletTransaction, rule: Rule, left: Decimal, now) -> None:
    """What the lots could not take: a debit is refused; a return opens a paid lot for the rest."""
    if left <= 0:
        return
    if isinstance(rule, Return):
        # Drawn before lots existed (an opening balance is paid money): the rest comes back as paid.
        _open_return_lot(entry, left, now)
        return
    if isinstance(rule, Draw) and rule.topup_id is not None:
        raise InsufficientBalance("Not enough of that top-up's paid money is left in the wallet.")
    raise InsufficientBalance(
        "Insufficient balance: part of your balance is credit that has expired."
        if isinstance(rule, Draw) and not rule.paid_only and rule.lot_id is None
        else "Insufficient balance."
    )


def _open_return_lot(entry: WalletTransaction, amount: Decimal, now) -> None:
    lot = CreditLot.objects.create(
        user_id=entry.user_id,
        kind=LotKind.PAID,
        source=LotSource.RETURN,
        amount=amount,
        remaining=amount,
        created_at=now,
    )
    LotAllocation.objects.create(transaction=entry, lot=lot, amount=amount)


def balances(user_id) -> dict:
    """Spendable paid and promotional money, and what is expired but not swept yet (one query)."""
    now = timezone.now()
    expired = Q(expires_at__isnull=False, expires_at__lte=now)
    row = CreditLot.objects.filter(user_id=user_id, remaining__gt=0).aggregate(
        paid=Sum("remaining", filter=Q(kind=LotKind.PAID)),
        promotional=Sum("remaining", filter=Q(kind=LotKind.PROMOTIONAL) & ~expired),
        expired=Sum("remaining", filter=expired),
        next_expiry=Min("expires_at", filter=~expired),
    )
    next_amount = Decimal("0.00")
    if row["next_expiry"] is not None:
        # What expires at that moment (a second, indexed read, only for a wallet with expiring credit).
        soonest = CreditLot.objects.filter(user_id=user_id, remaining__gt=0, expires_at=row["next_expiry"])
        next_amount = Decimal(soonest.aggregate(total=Sum("remaining"))["total"] or 0).quantize(CENT)
    return {
        "next_amount": next_amount,
        "paid": Decimal(row["paid"] or 0).quantize(CENT),
        "promotional": Decimal(row["promotional"] or 0).quantize(CENT),
        "expired": Decimal(row["expired"] or 0).quantize(CENT),
        "next_expiry": row["next_expiry"],
    }


def paid_left(user_id, *, topup_id=None) -> Decimal:
    """Paid money left in the wallet (of one top-up when given): what a card refund, a dispute or an
    owed repayment may take. The caller holds the user's row lock for an answer that stays true."""
    lots = CreditLot.objects.filter(user_id=user_id, kind=LotKind.PAID, remaining__gt=0)
    if topup_id is not None:
        lots = lots.filter(topup_id=topup_id)
    return Decimal(lots.aggregate(total=Sum("remaining"))["total"] or 0).quantize(CENT)
