"""Ledger health: every balance equals the sum of its ledger rows and the latest balance_after."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Subquery, Sum

from .models import WalletTransaction

CENT = Decimal("0.01")


@dataclass
class Mismatch:
    user_id: int
    email: str
    balance: Decimal
    ledger_sum: Decimal
    latest_balance_after: Decimal | None
    problem: str


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
    rows = (
        User.objects.order_by()
        .annotate(ledger_sum=Sum("wallet_transactions__amount"), latest_after=Subquery(latest))
        .values_list("pk", "email", "wallet_balance", "ledger_sum", "latest_after")
    )
    report = LedgerReport()
    for pk, email, balance, ledger_sum, latest_after in rows.iterator(chunk_size=5000):
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
        if problems:
            report.mismatches.append(
                Mismatch(pk, email, balance, ledger_sum, latest_after, "; ".join(problems))
            )
    return report
