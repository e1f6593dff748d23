"""Races on credit lots (issue 23), on SQLite and PostgreSQL: the last redemption of a code redeemed
20 times at once gives credit once; the expiry chore racing spends never takes spent credit."""

from decimal import Decimal

import pytest

from tests.concurrency import run_concurrently
from tests.credits.helpers import give, lot_of, make_expired, settled_topup
from wallet import services
from wallet.exceptions import InsufficientBalance, PromoCodeRefused
from wallet.health import check_ledger, money_totals
from wallet.models import CreditLot, PromoCode, PromoRedemption, TxType, WalletTransaction
from wallet.services import credits

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_parallel_redemptions_of_a_last_code_credit_once(make_user):
    PromoCode.objects.create(code="LAST", amount=Decimal("5.00"), max_redemptions=1)
    users = [make_user() for _ in range(20)]

    results = run_concurrently(lambda i: credits.redeem_code(user=users[i], code="LAST"), 20)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, PromoCodeRefused)]
    assert not unexpected, unexpected
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert PromoRedemption.objects.count() == 1
    assert PromoCode.objects.get().redemptions == 1
    assert WalletTransaction.objects.filter(type=TxType.PROMO_CODE).count() == 1
    assert check_ledger().ok and money_totals().ok


def test_one_account_redeeming_twenty_times_at_once_is_credited_once(make_user):
    PromoCode.objects.create(code="MANY", amount=Decimal("5.00"), max_redemptions=100)
    user = make_user()
    results = run_concurrently(lambda i: credits.redeem_code(user=user, code="MANY"), 20)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(r.created for r in results) == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("5.00")


def test_the_expiry_chore_racing_spends_never_takes_spent_credit(make_user):
    user = make_user()
    settled_topup(user, "20.00", "pi_race_paid")
    lots = [lot_of(give(user, "4.00")) for _ in range(3)]
    # Spends run while every promotional lot is still valid, then two of them expire mid-race.
    def act(i):
        if i == 0:
            for lot in lots[:2]:
                make_expired(lot)
            return credits.expire_due_lots()
        if i == 1:
            return credits.expire_due_lots()
        try:
            return services.debit(user=user, amount="1.50", type=TxType.AGENT_USAGE, description="Agent run: x")
        except InsufficientBalance as exc:
            return exc

    results = run_concurrently(act, 10)
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, InsufficientBalance)]
    credits.expire_due_lots()
    for lot in CreditLot.objects.filter(pk__in=[lot.pk for lot in lots[:2]]):
        taken = {
            kind: sum(a.amount for a in lot.allocations.filter(transaction__type=kind))
            for kind in (TxType.AGENT_USAGE, TxType.EXPIRY)
        }
        # The expiry took exactly what the spends had left: never credit already spent.
        assert lot.remaining == 0 and taken[TxType.AGENT_USAGE] + taken[TxType.EXPIRY] == lot.amount
    expired = -sum(WalletTransaction.objects.filter(type=TxType.EXPIRY).values_list("amount", flat=True))
    spends = -sum(WalletTransaction.objects.filter(type=TxType.AGENT_USAGE).values_list("amount", flat=True))
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("32.00") - expired - spends
    assert check_ledger().ok and money_totals().ok
