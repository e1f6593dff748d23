"""Credit lots in the ledger (issue 23): spending order, expired lots, returns, refunds to card."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import AgentRun
from agents.queue import _refund
from tests.credits.helpers import give, lot_of, make_expired, remaining, settled_topup
from wallet import services
from wallet.exceptions import InsufficientBalance, RefundNotAllowed
from wallet.health import check_ledger, money_totals
from wallet.models import CreditLot, LotAllocation, LotKind, LotSource, TxType
from wallet.services import credits

pytestmark = pytest.mark.django_db


def spend(user, amount):
    return services.debit(user=user, amount=amount, type=TxType.AGENT_USAGE, description="Agent run: x")


def drawn(entry) -> dict[int, Decimal]:
    return dict(LotAllocation.objects.filter(transaction_id=entry.pk).values_list("lot_id", "amount"))


def test_a_top_up_opens_a_paid_lot_linked_to_it(make_user):
    user = make_user()
    topup = settled_topup(user, "50.00", "pi_lot")
    lot = CreditLot.objects.get(user=user)
    assert (lot.kind, lot.source, lot.topup_id, lot.amount, lot.remaining, lot.expires_at) == (
        LotKind.PAID, LotSource.TOP_UP, topup.pk, Decimal("50.00"), Decimal("50.00"), None
    )
    assert check_ledger().ok and money_totals().ok


def test_promotional_before_paid_soonest_expiry_first_then_oldest(make_user):
    user = make_user()
    settled_topup(user, "10.00", "pi_order")
    late = lot_of(give(user, "3.00", days=20))
    soon = lot_of(give(user, "2.00", days=5))
    never = lot_of(give(user, "4.00", days=None))
    older_soon = soon
    newer_soon = lot_of(give(user, "1.00", days=5))
    CreditLot.objects.filter(pk=newer_soon.pk).update(expires_at=CreditLot.objects.get(pk=soon.pk).expires_at)
    paid = CreditLot.objects.get(user=user, kind=LotKind.PAID)

    first = spend(user, "2.50")  # the soonest-expiring lots, the older one first
    assert drawn(first) == {older_soon.pk: Decimal("2.00"), newer_soon.pk: Decimal("0.50")}
    second = spend(user, "4.00")  # the rest of that lot, then the later expiry
    assert drawn(second) == {newer_soon.pk: Decimal("0.50"), late.pk: Decimal("3.00"), never.pk: Decimal("0.50")}
    third = spend(user, "5.00")  # promotional without expiry, then paid last
    assert drawn(third) == {never.pk: Decimal("3.50"), paid.pk: Decimal("1.50")}
    assert remaining(paid) == Decimal("8.50")
    assert check_ledger().ok and money_totals().ok


def test_an_expired_lot_is_never_spent_even_before_the_chore(make_user):
    user = make_user()
    settled_topup(user, "5.00", "pi_exp")
    promo = lot_of(give(user, "10.00"))
    make_expired(promo)
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("15.00")  # counted until the chore writes its expiry row
    entry = spend(user, "4.00")
    assert set(drawn(entry)) == {CreditLot.objects.get(user=user, kind=LotKind.PAID).pk}
    with pytest.raises(InsufficientBalance):
        spend(user, "5.00")  # the balance (11.00) could, the unexpired lots (1.00) cannot
    assert remaining(promo) == Decimal("10.00")
    assert credits.expire_due_lots() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("1.00") and remaining(promo) == Decimal("0.00")
    assert check_ledger().ok and money_totals().ok


def test_an_agent_refund_returns_to_the_lots_the_run_drew(make_user, agent):
    user = make_user()
    settled_topup(user, "10.00", "pi_ret")
    promo = lot_of(give(user, "3.00"))
    charge = spend(user, "5.00")  # 3.00 promotional + 2.00 paid
    run = AgentRun.objects.create(user=user, agent=agent, price=Decimal("5.00"), charge_transaction=charge,
                                  status=AgentRun.Status.QUEUED, request_id=uuid.uuid4())
    assert _refund(run=run, error_message="boom", from_status=AgentRun.Status.QUEUED)
    paid = CreditLot.objects.get(user=user, kind=LotKind.PAID)
    assert remaining(promo) == Decimal("3.00") and remaining(paid) == Decimal("10.00")
    assert check_ledger().ok and money_totals().ok


def test_a_refund_into_an_expired_lot_does_not_revive_it(make_user):
    user = make_user()
    promo = lot_of(give(user, "3.00"))
    charge = spend(user, "2.00")
    make_expired(promo)
    services.credit(user=user, amount="2.00", type=TxType.AGENT_REFUND, description="Refund",
                    lots=services.Return(charge.pk))
    assert remaining(promo) == Decimal("3.00")
    with pytest.raises(InsufficientBalance):
        spend(user, "0.01")
    credits.expire_due_lots()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")
    assert check_ledger().ok and money_totals().ok


def test_a_card_refund_takes_only_that_top_ups_paid_lot(make_user, settings):
    user = make_user()
    topup = settled_topup(user, "20.00", "pi_card")
    settled_topup(user, "30.00", "pi_other")
    give(user, "50.00")
    spend(user, "60.00")  # 50.00 promotional, then 10.00 of the oldest paid lot (pi_card)
    staff = make_user(is_staff=True)
    with pytest.raises(RefundNotAllowed, match="paid money"):
        services.refund_topup(topup=topup, amount="10.01", reason="asked", staff=staff)
    lot = CreditLot.objects.get(topup=topup)
    assert remaining(lot) == Decimal("10.00")


def test_constraints_hold_past_the_service(make_user):
    user = make_user(balance=Decimal("5.00"))
    lot = CreditLot.objects.get(user=user)
    for change in ({"remaining": Decimal("-0.01")}, {"remaining": Decimal("5.01")}, {"amount": Decimal("0")},
                   {"expires_at": timezone.now() + timedelta(days=1)}, {"kind": "free"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditLot.objects.filter(pk=lot.pk).update(**change)
    with pytest.raises(IntegrityError), transaction.atomic():
        LotAllocation.objects.filter(lot=lot).update(amount=Decimal("0"))


def test_check_ledger_finds_lots_that_do_not_add_up(make_user):
    user = make_user(balance=Decimal("5.00"))
    CreditLot.objects.filter(user=user).update(remaining=Decimal("4.00"))
    report = check_ledger()
    assert not report.ok and "sum of credit lots" in report.mismatches[0].problem
