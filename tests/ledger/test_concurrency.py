"""Concurrent debits and credits on one wallet: no overdraft, no lost update (SQLite and PostgreSQL)."""

import random
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum

from tests.concurrency import run_concurrently
from wallet import services
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_deductions_never_overdraw(make_user):
    user = make_user(balance=Decimal("100.00"))
    User = get_user_model()

    def spend(_):
        return User.objects.get(pk=user.pk).deduct_balance(Decimal("10"), description="race")

    results = run_concurrently(spend, 50)
    assert all(isinstance(r, bool) for r in results), results
    assert results.count(True) == 10
    assert results.count(False) == 40
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")
    ledger_sum = WalletTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"]
    assert Decimal(ledger_sum).quantize(Decimal("0.01")) == user.wallet_balance
    call_command("check_ledger")


def test_concurrent_credits_and_debits_lose_no_update(make_user):
    user = make_user(balance=Decimal("500.00"))
    rng = random.Random(7)
    ops = [(rng.choice(["credit", "debit"]), Decimal(rng.randint(1, 999)) / 100) for _ in range(40)]

    def op(i):
        kind, amount = ops[i]
        fn = services.credit if kind == "credit" else services.debit
        return fn(user=user.pk, amount=amount, type=TxType.ADJUSTMENT)

    results = run_concurrently(op, len(ops))
    assert not [r for r in results if isinstance(r, BaseException)], results
    expected = Decimal("500.00") + sum(a if k == "credit" else -a for k, a in ops)
    user.refresh_from_db()
    assert user.wallet_balance == expected
    # balance_after values form one unbroken chain in commit order.
    rows = WalletTransaction.objects.filter(user=user).order_by("created_at")
    running = Decimal("0")
    for row in rows:
        running += row.amount
        assert row.balance_after == running
    call_command("check_ledger")
