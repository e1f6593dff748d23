"""Ledger health: every balance equals the sum of its ledger rows and the latest balance_after."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery, Sum

from .models import CreditLot, OwedBalance, TxType, WalletTransaction, kind_filter

CENT = Decimal("0.01")


@dataclass
class Mismatch:
    user_id: int
    email: str
    balance: Decimal
    ledger_sum: Decimal
    latest_balance_after: Decimal | None
    problem: str
    lots_sum: Decimal | None = None


@dataclass
class LedgerReport:
    users: int = 0
    users_with_entries: int = 0
    total_balance: Decimal = Decimal("0.00")
    total_ledger: Decimal = Decimal("0.00")
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check_ledger() -> LedgerReport:
    """Check every user's balance against the ledger in one aggregate query (streamed)."""
    User = get_user_model()
    latest = (
        WalletTransaction.objects.filter(user=OuterRef("pk"))
        .order_by("-created_at")
        .values("balance_after")[:1]
    )
    # Issue 23: the balance is also the sum of what is left in the user's credit lots.
    lots = (
        CreditLot.objects.filter(user=OuterRef("pk")).order_by().values("user")
        .annotate(total=Sum("remaining")).values("total")
    )
    rows = (
        User.objects.order_by()
        .annotate(
            ledger_sum=Sum("wallet_transactions__amount"),
            latest_after=Subquery(latest),
            lots_sum=Subquery(lots),
        )
        .values_list("pk", "email", "wallet_balance", "ledger_sum", "latest_after", "lots_sum")
    )
    report = LedgerReport()
    for pk, email, balance, ledger_sum, latest_after, lots_sum in rows.iterator(chunk_size=5000):
        # SQLite sums NUMERIC as REAL: quantize before comparing.
        balance = Decimal(balance).quantize(CENT)
        ledger_sum = Decimal(ledger_sum or 0).quantize(CENT)
        latest_after = None if latest_after is None else Decimal(latest_after).quantize(CENT)
        report.users += 1
        report.users_with_entries += latest_after is not None
        report.total_balance += balance
        report.total_ledger += ledger_sum
        problems = []
        if balance < 0:
            problems.append("negative balance")
        if balance != ledger_sum:
            problems.append("balance != sum of ledger")
        if latest_after is None and balance != 0:
            problems.append("balance without ledger rows")
        if latest_after is not None and latest_after != balance:
            problems.append("balance != latest balance_after")
        lots_sum = Decimal(lots_sum or 0).quantize(CENT)
        if lots_sum != balance:
            problems.append("balance != sum of credit lots")
        if problems:
            report.mismatches.append(
                Mismatch(pk, email, balance, ledger_sum, latest_after, "; ".join(problems), lots_sum)
            )
    return report


# --- issue 20: the money invariant with disputes in it ---------------------------------------------


@dataclass
class MoneyTotals:
    """sum of balances == credits - card refunds - agent spend + adjustments - disputes + reinstated.

    Every figure is the net of its ledger rows (card refunds net of their reversals, agent spend net
    of agent refunds, disputes including what top-ups repaid of an owed amount). `owed` is what
    accounts still owe: not in any balance, collected by their next top-ups.
    """

    balances: Decimal
    credits: Decimal
    card_refunds: Decimal
    agent_spend: Decimal
    adjustments: Decimal
    disputes: Decimal
    reinstated: Decimal
    owed: Decimal
    # Issue 23: promotional credit given (grants, promo codes) net of what expired.
    promotional: Decimal = Decimal("0.00")

    @property
    def expected(self) -> Decimal:
        return (self.credits - self.card_refunds - self.agent_spend + self.adjustments
                - self.disputes + self.reinstated + self.promotional)

    @property
    def ok(self) -> bool:
        return self.balances == self.expected


def money_totals() -> MoneyTotals:
    """The invariant's figures, one aggregate query over the ledger (legacy refund rows by kind)."""
    groups = {
        "credits": Q(type=TxType.TOP_UP),
        "card_refunds": kind_filter(TxType.CARD_REFUND) | kind_filter(TxType.CARD_REFUND_REVERSAL),
        "agent_spend": Q(type=TxType.AGENT_USAGE) | kind_filter(TxType.AGENT_REFUND),
        "adjustments": Q(type=TxType.ADJUSTMENT),
        "disputes": Q(type__in=[TxType.DISPUTE, TxType.OWED_REPAYMENT]),
        "reinstated": Q(type=TxType.DISPUTE_REINSTATED),
        "promotional": Q(type__in=[TxType.GRANT, TxType.PROMO_CODE, TxType.EXPIRY]),
    }
    sums = WalletTransaction.objects.aggregate(
        **{name: Sum("amount", filter=condition) for name, condition in groups.items()}
    )
    User = get_user_model()
    balances = User.objects.aggregate(total=Sum("wallet_balance"))["total"]
    owed = OwedBalance.objects.aggregate(total=Sum("amount"))["total"]

    def money(value) -> Decimal:
        return Decimal(value or 0).quantize(CENT)

    # Debits are stored negative: the formula's minus signs take their magnitude.
    return MoneyTotals(
        balances=money(balances), credits=money(sums["credits"]), card_refunds=-money(sums["card_refunds"]),
        agent_spend=-money(sums["agent_spend"]), adjustments=money(sums["adjustments"]),
        disputes=-money(sums["disputes"]), reinstated=money(sums["reinstated"]), owed=money(owed),
        promotional=money(sums["promotional"]),
    )
