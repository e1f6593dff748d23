"""Property tests (hypothesis) over random sequences of top-ups, grants, spends, agent refunds, card
refunds made in Stripe, disputes (withdrawn, won) and expiries (issue 23). After every step:
- the sum of remaining lots == the balance == the sum of the ledger (check_ledger, money_totals);
- no lot below zero or above its amount (also the database's constraints);
- no debit other than an expiry drew from a lot past its expiry at the time of the debit;
- card refunds and disputes drew paid lots only, and a card refund only its own top-up's lot.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.credits.helpers import give, make_expired, settled_topup
from wallet import services
from wallet.exceptions import InsufficientBalance
from wallet.health import check_ledger, money_totals
from wallet.models import CreditLot, LotAllocation, LotKind, TopUp, TxType
from wallet.payments import Dispute as StripeDispute
from wallet.services import credits
from wallet.services.disputes import apply_dispute

pytestmark = pytest.mark.django_db

# Quarters of a dirham: exact in binary floating point. SQLite stores NUMERIC as REAL, and issue 20's
# dispute_parts_add_up CHECK (amount = taken + owed) then fails on sums like 7.59 + 2.63 != 10.22
# (found by this test; PostgreSQL is exact, reported to the lead). Quarters keep SQLite's checks exact.
amounts = st.integers(min_value=1, max_value=2000).map(lambda quarters: Decimal(quarters) / 4)
steps = st.one_of(
    st.tuples(st.just("topup"), amounts),
    st.tuples(st.just("grant"), amounts, st.sampled_from([None, 3, 30])),
    st.tuples(st.just("spend"), amounts),
    st.tuples(st.just("agent_refund"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("card_refund"), st.integers(min_value=0, max_value=20), amounts),
    st.tuples(st.just("dispute"), st.integers(min_value=0, max_value=20), st.booleans()),
    st.tuples(st.just("expire"), st.integers(min_value=0, max_value=20)),
    st.tuples(
        st.just("chore"),
    ),
)


class Wallet:
    """One account driven through the services; remembers what it needs to pick targets."""

    def __init__(self, user):
        self.user = user
        self.topups: list[TopUp] = []
        self.refunded: dict = {}
        self.spends: list = []
        self.returned: set = set()

    def apply(self, step) -> None:
        kind, *args = step
        getattr(self, kind)(*args)

    def topup(self, amount):
        self.topups.append(settled_topup(self.user, f"{amount:.2f}", f"pi_{uuid.uuid4().hex}"))

    def grant(self, amount, days):
        give(self.user, f"{amount:.2f}", days=days)

    def spend(self, amount):
        try:
            self.spends.append(
                services.debit(
                    user=self.user, amount=amount, type=TxType.AGENT_USAGE, description="Agent run: x"
                )
            )
        except InsufficientBalance:
            pass

    def agent_refund(self, index):
        open_spends = [s for s in self.spends if s.pk not in self.returned]
        if open_spends:
            spend = open_spends[index % len(open_spends)]
            self.returned.add(spend.pk)
            services.credit(
                user=self.user,
                amount=-spend.amount,
                type=TxType.AGENT_REFUND,
                description="Refund",
                lots=services.Return(spend.pk),
            )

    def card_refund(self, index, amount):
        """A refund made in Stripe's dashboard: cumulative per charge, whatever the wallet holds."""
        if self.topups:
            topup = self.topups[index % len(self.topups)]
            total = min(self.refunded.get(topup.pk, Decimal("0")) + amount, topup.amount)
            self.refunded[topup.pk] = total
            services.record_external_refund(
                payment_intent_id=topup.stripe_payment_intent_id,
                charge_id="ch_x",
                amount_refunded_minor=int(total * 100),
                currency="aed",
            )

    def dispute(self, index, won):
        if self.topups:
            topup = self.topups[index % len(self.topups)]
            body = {
                "id": f"dp_{topup.pk.hex}",
                "charge_id": "ch_x",
                "payment_intent_id": topup.stripe_payment_intent_id,
                "amount": int(topup.amount * 100),
                "currency": "aed",
                "status": "won" if won else "lost",
                "funds_withdrawn": True,
                "funds_reinstated": won,
            }
            apply_dispute(dispute=StripeDispute(**body))

    def expire(self, index):
        promo = list(
            CreditLot.objects.filter(
                user=self.user,
                kind=LotKind.PROMOTIONAL,
                expires_at__isnull=False,
                expires_at__gt=timezone.now(),
            ).order_by("pk")
        )
        if promo:
            make_expired(promo[index % len(promo)], ago=timedelta(microseconds=1))

    def chore(self):
        credits.expire_due_lots()


def assert_invariants(user) -> None:
    report, totals = check_ledger(), money_totals()
    assert report.ok, report.mismatches
    assert totals.ok, totals
    for lot in CreditLot.objects.filter(user=user):
        assert Decimal("0") <= lot.remaining <= lot.amount
    for a in LotAllocation.objects.filter(lot__user=user, transaction__amount__lt=0).select_related(
        "lot", "transaction"
    ):
        row, lot = a.transaction, a.lot
        if row.type != TxType.EXPIRY:
            assert lot.expires_at is None or lot.expires_at > row.created_at, (row, lot)
        if row.type in (TxType.CARD_REFUND, TxType.DISPUTE, TxType.OWED_REPAYMENT):
            assert lot.kind == LotKind.PAID, (row, lot)
        if row.type == TxType.CARD_REFUND:
            assert (
                lot.topup is not None and lot.topup.stripe_payment_intent_id == row.stripe_payment_intent_id
            )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(steps, min_size=1, max_size=25))
def test_random_sequences_keep_lots_balance_and_ledger_equal(make_user, sequence):
    wallet = Wallet(make_user())
    for step in sequence:
        wallet.apply(step)
        assert_invariants(wallet.user)
