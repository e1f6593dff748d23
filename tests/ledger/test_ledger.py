"""Ledger services: credit, debit, validation, the balance_after chain, append-only rows."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from wallet import services
from wallet.exceptions import InsufficientBalance, InvalidAmount
from wallet.models import AppendOnlyError, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def test_credit_and_debit_write_rows_with_balance_after(user):
    row1 = services.credit(user=user, amount=Decimal("100.00"), type=TxType.ADJUSTMENT)
    row2 = services.debit(user=user, amount="30.25", type=TxType.AGENT_USAGE, description="scan")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("69.75")
    assert row1.amount == Decimal("100.00") and row1.balance_after == Decimal("100.00")
    assert row2.amount == Decimal("-30.25") and row2.balance_after == Decimal("69.75")
    assert row2.description == "scan"


def test_balance_after_chain_matches_running_sum(user):
    amounts = ["10.10", "-0.10", "0.20", "-0.20", "5.55", "-15.55", "0.01"]
    for a in amounts:
        fn = services.credit if not a.startswith("-") else services.debit
        fn(user=user, amount=a.lstrip("-"), type=TxType.ADJUSTMENT)
    running = Decimal("0")
    for row in WalletTransaction.objects.filter(user=user).order_by("created_at"):
        running += row.amount
        assert row.balance_after == running
    user.refresh_from_db()
    assert user.wallet_balance == running == Decimal("0.01")


def test_debit_to_exactly_zero_with_cents(user):
    # 0.30 - 0.10 - 0.20 is not 0 in binary floating point; it must be in the ledger.
    services.credit(user=user, amount="0.30", type=TxType.ADJUSTMENT)
    services.debit(user=user, amount="0.10", type=TxType.AGENT_USAGE)
    services.debit(user=user, amount="0.20", type=TxType.AGENT_USAGE)
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")


def test_insufficient_funds_writes_nothing(user):
    services.credit(user=user, amount="5.00", type=TxType.ADJUSTMENT)
    with pytest.raises(InsufficientBalance, match="Insufficient balance"):
        services.debit(user=user, amount="5.01", type=TxType.AGENT_USAGE)
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("5.00")
    assert WalletTransaction.objects.filter(user=user).count() == 1


NOT_POSITIVE = "greater than zero"
NOT_DECIMAL = "never float"
NOT_AN_AMOUNT = "Enter an amount like"


@pytest.mark.parametrize(
    ("bad", "message"),
    [(0, NOT_POSITIVE), ("0", NOT_POSITIVE), ("-1", NOT_POSITIVE), (Decimal("-0.01"), NOT_POSITIVE),
     (1.5, NOT_DECIMAL), (0.1, NOT_DECIMAL), ("1.234", NOT_AN_AMOUNT), ("abc", NOT_AN_AMOUNT),
     ("", NOT_AN_AMOUNT), (None, NOT_DECIMAL), ([], NOT_DECIMAL), (True, NOT_DECIMAL), ("NaN", NOT_AN_AMOUNT),
     ("Infinity", NOT_AN_AMOUNT), (Decimal("1E+20"), "too large"), ("1e9999", NOT_AN_AMOUNT)],
)
def test_bad_amounts_are_rejected(user, bad, message):
    with pytest.raises(InvalidAmount, match=message):
        services.credit(user=user, amount=bad, type=TxType.ADJUSTMENT)
    with pytest.raises(InvalidAmount, match=message):
        services.debit(user=user, amount=bad, type=TxType.AGENT_USAGE)
    assert not WalletTransaction.objects.filter(user=user).exists()


def test_trailing_zeros_are_fine(user):
    # A Decimal value is ours (a column, arithmetic): 1.500 is 1.50. Text follows the amount rule
    # (wallet.money): a third decimal place is refused even when it is a zero.
    row = services.credit(user=user, amount=Decimal("1.500"), type=TxType.ADJUSTMENT)
    assert row.amount == Decimal("1.50")
    with pytest.raises(InvalidAmount, match=NOT_AN_AMOUNT):
        services.credit(user=user, amount="1.500", type=TxType.ADJUSTMENT)
    row = services.credit(user=user, amount=7, type=TxType.ADJUSTMENT)
    assert row.balance_after == Decimal("8.50")


def test_rows_are_append_only(user):
    row = services.credit(user=user, amount="1.00", type=TxType.ADJUSTMENT)
    row.description = "edited"
    with pytest.raises(AppendOnlyError, match="append-only"):
        row.save()
    with pytest.raises(AppendOnlyError, match="append-only"):
        row.delete()
    with pytest.raises(AppendOnlyError, match="append-only"):
        WalletTransaction.objects.filter(pk=row.pk).update(description="x")
    with pytest.raises(AppendOnlyError, match="append-only"):
        WalletTransaction.objects.filter(pk=row.pk).delete()
    assert WalletTransaction.objects.get(pk=row.pk).description == ""


def test_adjust_requires_reason_and_records_staff(user, make_user):
    staff = make_user(email="ops@example.com", is_staff=True)
    with pytest.raises(InvalidAmount, match="A reason is required"):
        services.adjust(user=user, amount="5.00", reason="  ", staff=staff)
    row = services.adjust(user=user, amount="5.00", reason="goodwill", staff=staff)
    assert row.created_by == staff and row.type == TxType.ADJUSTMENT and "goodwill" in row.description
    row = services.adjust(user=user, amount="-2.00", reason="correction", staff=staff)
    assert row.amount == Decimal("-2.00") and row.balance_after == Decimal("3.00")
    with pytest.raises(InsufficientBalance, match="Insufficient balance"):
        services.adjust(user=user, amount="-3.01", reason="too much", staff=staff)


def test_model_api_delegates_to_ledger(user):
    assert user.add_balance(Decimal("20.00"), description="gift") is True
    assert user.wallet_balance == Decimal("20.00")
    assert user.has_sufficient_balance("20.00") and not user.has_sufficient_balance("20.01")
    assert user.deduct_balance(Decimal("15"), description="run") is True
    assert user.deduct_balance(Decimal("5.01")) is False
    assert user.wallet_balance == Decimal("5.00")
    assert WalletTransaction.objects.filter(user=user).count() == 2


def test_add_balance_never_writes_an_adjustment_without_a_reason(user):
    user.add_balance(Decimal("5.00"))
    user.add_balance(Decimal("1.00"), description="   ")
    user.add_balance(Decimal("2.00"), "welcome gift")
    descriptions = list(WalletTransaction.objects.filter(user=user).order_by("created_at", "id")
                        .values_list("description", flat=True))
    assert descriptions[:2] == ["Balance added through User.add_balance"] * 2
    assert descriptions[2] == "welcome gift"


def test_stale_instance_save_does_not_overwrite_balance(user):
    stale = type(user).objects.get(pk=user.pk)
    services.credit(user=user, amount="50.00", type=TxType.ADJUSTMENT)
    stale.first_name = "Alice"
    stale.save()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("50.00") and user.first_name == "Alice"


def test_check_ledger_passes_and_detects_mismatch(user, make_user, capsys):
    services.credit(user=user, amount="10.00", type=TxType.ADJUSTMENT)
    make_user()
    call_command("check_ledger")
    assert "Ledger OK" in capsys.readouterr().out
    # Corrupt the balance past the service: the check must notice.
    type(user).objects.filter(pk=user.pk).update(wallet_balance=Decimal("11.00"))
    with pytest.raises(CommandError, match="Ledger check failed for 1 user"):
        call_command("check_ledger")
    assert "MISMATCH" in capsys.readouterr().out
