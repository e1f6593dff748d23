"""Review of issue 20: a dispute on a payment our top-up row still calls failed (the intent was
confirmed again after our failure, e.g. through Stripe.js with its client secret, and no event about
it reached us) was never applied: the chargeback path settled only top-ups that were not final, so
the dispute answered TopUpError on every delivery and every reconcile run, for ever. Settling it
from Stripe first (as charge.refunded does) credits what did arrive, then the dispute takes it."""

from decimal import Decimal

import pytest

from tests.disputes.conftest import DISPUTE_CARD
from tests.helpers import balance_of
from wallet import payments
from wallet.health import check_ledger, money_totals
from wallet.models import Dispute, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def test_a_dispute_on_a_top_up_marked_failed_but_paid_at_stripe_is_applied(
    user, client, stripe_sandbox, sandbox_events
):
    topup = TopUp.objects.create(user=user, amount=Decimal("100.00"), currency="aed", idempotency_key="k1")
    intent = payments.create_and_confirm_intent(
        amount_minor=10000, currency="aed", payment_method=stripe_sandbox.card(DISPUTE_CARD),
        metadata={"topup_id": str(topup.pk), "user_id": str(user.pk)}, idempotency_key=f"topup-{topup.pk}",
    )
    TopUp.objects.filter(pk=topup.pk).update(
        stripe_payment_intent_id=intent.id, status=TopUp.Status.FAILED, failure_reason="Authentication failed."
    )
    answers = sandbox_events.deliver(client)
    assert [a.status_code for a in answers] == [200, 200]
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED  # the money did arrive: credited first
    dispute = Dispute.objects.get()
    assert dispute.topup == topup and dispute.taken_amount == Decimal("100.00")
    assert balance_of(user) == Decimal("0.00")
    assert WalletTransaction.objects.filter(user=user, type=TxType.DISPUTE).count() == 1
    assert check_ledger().ok and money_totals().ok
