"""The database itself enforces the money invariants, whatever code writes to it."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from wallet import services
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def test_negative_balance_is_refused_by_the_database(user):
    with pytest.raises(IntegrityError, match="user_wallet_balance_non_negative"), transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(wallet_balance=Decimal("-0.01"))


def test_second_credit_for_one_intent_is_refused_by_the_database(user):
    services.credit(
        user=user, amount="10.00", type=TxType.TOP_UP, stripe_payment_intent_id="pi_123"
    )
    # PostgreSQL names the unique constraint; SQLite names its columns.
    unique = r"wallettx_one_credit_per_intent|wallet_wallettransaction\.stripe_payment_intent_id"
    with pytest.raises(IntegrityError, match=unique), transaction.atomic():
        WalletTransaction.objects.create(
            user=user,
            amount=Decimal("10.00"),
            type=TxType.TOP_UP,
            balance_after=Decimal("20.00"),
            stripe_payment_intent_id="pi_123",
        )


def test_zero_amount_row_is_refused_by_the_database(user):
    with pytest.raises(IntegrityError, match="wallettx_amount_non_zero"), transaction.atomic():
        WalletTransaction.objects.create(
            user=user, amount=Decimal("0"), type=TxType.ADJUSTMENT, balance_after=Decimal("0")
        )


def test_user_with_ledger_rows_cannot_be_deleted(user):
    from django.db.models import ProtectedError

    services.credit(user=user, amount="1.00", type=TxType.ADJUSTMENT)
    with pytest.raises(ProtectedError, match=r"protected foreign keys: .*WalletTransaction\.user"):
        user.delete()


def test_only_services_write_wallet_balance():
    """One owner per sensitive field: no product module but wallet/services/ledger.py writes the balance."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    pattern = re.compile(r"wallet_balance\s*[-+]?=[^=]|update\([^)]*wallet_balance")
    offenders = []
    for path in root.glob("*/**/*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".venv/", "tests/", "bench/")) or "/migrations/" in rel:
            continue
        if rel == "wallet/services/ledger.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.strip()
            if pattern.search(code) and not code.startswith("#") and "= models." not in code:
                offenders.append(f"{rel}:{n}: {code}")
    assert offenders == []
