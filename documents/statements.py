"""Monthly statements (and, with VAT_TAX_POINT=usage, the monthly tax invoice for agent usage).

Every figure is summed from the ledger: the closing balance is the account's balance less every
ledger row after the month, the opening balance the same before it, and the rows in between add
up from one to the other to the fils (checked before anything is issued).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from wallet.history import with_promotional_part
from wallet.models import TxType, WalletTransaction, ledger_kind
from wallet.money import CENT

from . import vat
from .issuing import issue
from .models import Document

logger = logging.getLogger(__name__)

Kind = Document.Kind
ZERO = Decimal("0.00")
USAGE_PREFIX = "Agent run: "


class StatementMismatch(Exception):
    """The ledger rows of a month do not add up from its opening to its closing balance."""


def month_bounds(first_day: date) -> tuple[datetime, datetime, date]:
    """(start, end) as aware datetimes in the site's time zone, and the month's last day."""
    first_day = first_day.replace(day=1)
    next_month = (first_day + timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    return (datetime.combine(first_day, time.min, tz), datetime.combine(next_month, time.min, tz),
            next_month - timedelta(days=1))


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


@dataclass
class MonthFigures:
    opening: Decimal
    closing: Decimal
    topups: Decimal
    usage_by_agent: dict[str, Decimal]
    agent_refunds: Decimal
    card_refunds: Decimal  # negative: money back to the card (reversals included, positive)
    adjustments: Decimal
    rows: int
    # Issue 20: taken back by disputes, given back when won, and owed amounts repaid (signed).
    disputes: Decimal = ZERO
    # Issue 23: promotional credit granted or redeemed, less what expired (signed). Not paid money:
    # no invoice carries it; the statement shows it apart from top-ups.
    promotional: Decimal = ZERO
    # Issue 23: the part of the month's agent usage (net of refunded runs) paid with promotional
    # credit. Under VAT_TAX_POINT=usage it is a discount on the usage invoice, not a paid supply.
    usage_promotional: Decimal = ZERO

    @property
    def usage(self) -> Decimal:
        return sum(self.usage_by_agent.values(), ZERO)

    def as_json(self) -> dict:
        return {
            "opening": str(self.opening), "closing": str(self.closing), "topups": str(self.topups),
            "usage_by_agent": {name: str(value) for name, value in sorted(self.usage_by_agent.items())},
            "usage": str(self.usage), "agent_refunds": str(self.agent_refunds),
            "card_refunds": str(self.card_refunds), "adjustments": str(self.adjustments), "rows": self.rows,
            "disputes": str(self.disputes), "promotional": str(self.promotional),
            "usage_promotional": str(self.usage_promotional),
        }


def month_figures(*, user, first_day: date) -> MonthFigures:
    start, end, _ = month_bounds(first_day)
    rows = WalletTransaction.objects.filter(user_id=user.pk)
    with transaction.atomic():
        # The balance and the rows since the month's end read together: the user's row lock (the
        # ledger's first lock) keeps a balance change from landing between the two reads.
        balance = (get_user_model().objects.select_for_update()
                   .values_list("wallet_balance", flat=True).get(pk=user.pk))
        after = rows.filter(created_at__gte=end).aggregate(s=Sum("amount"))["s"] or ZERO
    in_month = list(with_promotional_part(rows.filter(created_at__gte=start, created_at__lt=end))
                    .values_list("type", "amount", "description", "promotional_part"))
    closing = balance - after
    moved = sum((row[1] for row in in_month), ZERO)
    opening = closing - moved
    usage: dict[str, Decimal] = defaultdict(lambda: ZERO)
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    usage_promotional = ZERO
    for type_, amount, description, promo in in_month:
        kind = ledger_kind(type_, amount, description)
        if kind in (TxType.AGENT_USAGE, TxType.AGENT_REFUND) and promo:
            # A run's promotional part is drawn (usage) or returned (refund): net of both.
            usage_promotional += Decimal(promo) if kind == TxType.AGENT_USAGE else -Decimal(promo)
        if kind == TxType.AGENT_USAGE:
            name = description[len(USAGE_PREFIX):] if description.startswith(USAGE_PREFIX) else description
            usage[name or "Agent runs"] += -amount
        else:
            sums[kind] += amount
    figures = MonthFigures(
        opening=opening, closing=closing, topups=sums[TxType.TOP_UP], usage_by_agent=dict(usage),
        agent_refunds=sums[TxType.AGENT_REFUND],
        card_refunds=sums[TxType.CARD_REFUND] + sums[TxType.CARD_REFUND_REVERSAL],
        adjustments=sums[TxType.ADJUSTMENT], rows=len(in_month),
        disputes=sums[TxType.DISPUTE] + sums[TxType.DISPUTE_REINSTATED] + sums[TxType.OWED_REPAYMENT],
        promotional=sums[TxType.GRANT] + sums[TxType.PROMO_CODE] + sums[TxType.EXPIRY],
        usage_promotional=abs(usage_promotional).quantize(CENT) if usage_promotional > 0 else ZERO,
    )
    # Every row belongs to exactly one line above: the lines must add up to the month's movement.
    listed = (figures.topups - figures.usage + figures.agent_refunds + figures.card_refunds
              + figures.adjustments + figures.disputes + figures.promotional)
    if listed != moved or opening + listed != closing:
        raise StatementMismatch(f"user {user.pk} {first_day:%Y-%m}: lines {listed} != movement {moved}")
    return figures


def _period_document(kind: str, user, first_day: date) -> Document | None:
    return Document.objects.filter(user_id=user.pk, kind=kind, period_start=first_day).first()


def issue_statement(*, user, first_day: date) -> Document:
    """The statement of one account for one month; the existing one if issued already."""
    first_day = first_day.replace(day=1)
    existing = _period_document(Kind.STATEMENT, user, first_day)
    if existing is not None:
        return existing
    figures = month_figures(user=user, first_day=first_day)
    _, _, last_day = month_bounds(first_day)
    line = vat.untaxed_line(description=f"Closing balance on {last_day:%-d %B %Y}", amount=figures.closing)
    try:
        return issue(kind=Kind.STATEMENT, user=user, lines=[line], prices=settings.VAT_PRICES, rate=ZERO,
                     supplied_at=last_day, period_start=first_day, period_end=last_day,
                     data=figures.as_json())
    except IntegrityError:
        found = _period_document(Kind.STATEMENT, user, first_day)
        if found is None:
            raise
        return found


def issue_usage_invoice(*, user, first_day: date) -> Document | None:
    """With VAT_TAX_POINT=usage: the month's tax invoice for agent usage (net of refunded runs), one
    line per agent; None when there was no usage to invoice."""
    first_day = first_day.replace(day=1)
    existing = _period_document(Kind.USAGE_INVOICE, user, first_day)
    if existing is not None:
        return existing
    figures = month_figures(user=user, first_day=first_day)
    _, _, last_day = month_bounds(first_day)
    lines = [
        vat.taxed_line(description=f"Agent runs: {name}", amount=amount, rate=settings.VAT_RATE,
                       prices=settings.VAT_PRICES)
        for name, amount in sorted(figures.usage_by_agent.items()) if amount
    ]
    if figures.agent_refunds:
        lines.append(vat.taxed_line(description="Refunded agent runs", amount=-figures.agent_refunds,
                                    rate=settings.VAT_RATE, prices=settings.VAT_PRICES))
    if figures.usage_promotional:
        # Promotional credit is not consideration paid: it reduces the taxable usage (issue 23).
        lines.append(vat.taxed_line(description="Paid with promotional credit (discount)",
                                    amount=-figures.usage_promotional, rate=settings.VAT_RATE,
                                    prices=settings.VAT_PRICES))
    if not lines or vat.totals(lines).gross <= 0:
        return None
    try:
        return issue(kind=Kind.USAGE_INVOICE, user=user, lines=lines, prices=settings.VAT_PRICES,
                     rate=settings.VAT_RATE, supplied_at=last_day, period_start=first_day,
                     period_end=last_day, data=figures.as_json())
    except IntegrityError:
        found = _period_document(Kind.USAGE_INVOICE, user, first_day)
        if found is None:
            raise
        return found


def accounts_for(first_day: date):
    """Accounts with a ledger row before the month's end: each gets a statement."""
    _, end, _ = month_bounds(first_day)
    ids = WalletTransaction.objects.filter(created_at__lt=end).values("user_id").distinct()
    return get_user_model().objects.filter(pk__in=ids).order_by("pk")
