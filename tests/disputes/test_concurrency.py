"""Racing deliveries of one dispute (webhook retries, reconcile, the other webhook event types) apply
it once; a top-up credit racing the dispute leaves balance + owed consistent (SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest

from tests.concurrency import run_concurrently
from wallet import services
from wallet.health import check_ledger, money_totals
from wallet.models import Dispute, TopUp, TxType, WalletTransaction
from wallet.payments import Dispute as StripeDispute
from wallet.payments import Intent, IntentStatus
from wallet.services.disputes import apply_dispute, owed_amount

pytestmark = pytest.mark.django_db(transaction=True)


def settled(user, amount: str, intent_id: str) -> TopUp:
    topup = TopUp.objects.create(user=user, amount=Decimal(amount), currency="aed", idempotency_key=intent_id,
                                 stripe_payment_intent_id=intent_id)
    minor = int(Decimal(amount) * 100)
    services.settle_topup(intent=Intent(id=intent_id, status=IntentStatus.SUCCEEDED, amount=minor,
                                        currency="aed", amount_received=minor))
    return topup


def test_racing_deliveries_of_one_dispute_apply_it_once(make_user):
    user = make_user()
    settled(user, "50.00", "pi_race")
    services.debit(user=user, amount="20.00", type=TxType.AGENT_USAGE, description="Agent run: x")
    dispute = StripeDispute(id="dp_race", charge_id="ch_race", payment_intent_id="pi_race", amount=5000,
                            currency="aed", status="needs_response", reason="fraudulent", funds_withdrawn=True)
    results = run_concurrently(lambda i: apply_dispute(dispute=dispute), 6)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.withdrawn_now for r in results) == 1
    assert Dispute.objects.count() == 1
    assert WalletTransaction.objects.filter(type=TxType.DISPUTE).count() == 1
    assert owed_amount(user=user) == Decimal("20.00")
    assert check_ledger().ok and money_totals().ok


def test_a_top_up_racing_a_dispute_repays_exactly_what_is_owed(make_user):
    user = make_user()
    settled(user, "30.00", "pi_first")
    services.debit(user=user, amount="30.00", type=TxType.AGENT_USAGE, description="Agent run: x")
    TopUp.objects.create(user=user, amount=Decimal("100.00"), currency="aed", idempotency_key="second",
                         stripe_payment_intent_id="pi_second")
    dispute = StripeDispute(id="dp_owed", charge_id="ch_1", payment_intent_id="pi_first", amount=3000,
                            currency="aed", status="needs_response", funds_withdrawn=True)
    intent = Intent(id="pi_second", status=IntentStatus.SUCCEEDED, amount=10000, currency="aed",
                    amount_received=10000)

    def act(i):
        return apply_dispute(dispute=dispute) if i % 2 == 0 else services.settle_topup(intent=intent)

    results = run_concurrently(act, 4)
    assert not [r for r in results if isinstance(r, BaseException)], results
    user.refresh_from_db()
    # Whichever came first: 30 disputed out of 130 credited and 30 spent leaves 70, nothing owed.
    assert user.wallet_balance == Decimal("70.00") and owed_amount(user=user) == Decimal("0.00")
    assert check_ledger().ok and money_totals().ok
