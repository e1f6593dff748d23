"""Issue 20, "Done when": the money invariant with disputes in it holds against Stripe as well. Every
figure of the wallet's equation is read back from Stripe (the sandbox's localstripe) and compared:
what top-ups credited with what the intents collected, refunds to the card with Stripe's refunds,
and what disputes took (taken + owed, net of those won) with what Stripe withdrew and reinstated."""

from decimal import Decimal

import pytest

from tests.disputes.conftest import DISPUTE_CARD, FRAUD_WARNING_CARD
from tests.helpers import balance_of
from wallet import payments, services
from wallet.health import check_ledger, money_totals
from wallet.models import CardRefund, Dispute, TopUp, TxType
from wallet.money import CENT
from wallet.services import holds
from wallet.services.disputes import owed_amount

pytestmark = pytest.mark.django_db


def stripe_figures() -> dict[str, Decimal]:
    """The equation's figures as Stripe knows them, read through the gateway (one object at a time)."""
    collected = sum(
        payments.from_minor(payments.retrieve_intent(t.stripe_payment_intent_id).amount_collected)
        for t in TopUp.objects.filter(status=TopUp.Status.SUCCEEDED)
    )
    refunded = Decimal("0.00")
    for refund in CardRefund.objects.exclude(stripe_refund_id=""):
        at_stripe = payments.retrieve_refund(refund.stripe_refund_id)
        if at_stripe.status == payments.RefundStatus.SUCCEEDED:
            refunded += payments.from_minor(at_stripe.amount)
    withdrawn = reinstated = Decimal("0.00")
    for row in Dispute.objects.all():
        dispute = payments.retrieve_dispute(row.stripe_dispute_id)
        amount = payments.from_minor(dispute.amount)
        withdrawn += amount if dispute.funds_withdrawn else 0
        reinstated += amount if dispute.funds_reinstated else 0
    return {"collected": Decimal(collected).quantize(CENT), "refunded": refunded,
            "withdrawn": withdrawn, "reinstated": reinstated}


def test_the_money_invariant_holds_against_stripe_with_disputes_refunds_and_fraud_warnings(
    make_user, client, pay, sandbox_events, stripe_sandbox
):
    staff = make_user(is_staff=True, is_superuser=True)
    plain, disputed, won, warned = (make_user() for _ in range(4))

    # A plain customer: spends, and staff refund part of the top-up to the card.
    first = pay(plain, "100.00")
    services.debit(user=plain, amount="30.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    services.refund_topup(topup=first, amount="20.00", reason="asked", staff=staff)

    # A dispute after spending: 30 taken, 70 owed; released, a top-up of 50 repays 50 of it.
    pay(disputed, "100.00", DISPUTE_CARD)
    services.debit(user=disputed, amount="70.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    sandbox_events.deliver(client)
    sandbox_events.events.clear()
    holds.release_account(user=disputed, reason="reviewed", staff=staff)
    pay(disputed, "50.00")
    assert balance_of(disputed) == Decimal("0.00") and owed_amount(user=disputed) == Decimal("20.00")

    # A dispute won: withdrawn, then reinstated.
    pay(won, "80.00", DISPUTE_CARD)
    services.debit(user=won, amount="10.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    sandbox_events.deliver(client)
    dispute_id = Dispute.objects.get(user=won).stripe_dispute_id
    sandbox_events.events.clear()
    payments.submit_dispute_evidence(dispute_id, evidence={"uncategorized_text": "winning_evidence"})
    sandbox_events.deliver(client)
    sandbox_events.events.clear()
    assert balance_of(won) == Decimal("70.00")

    # An early fraud warning: what the wallet holds of the payment goes back to the card.
    pay(warned, "60.00", FRAUD_WARNING_CARD)
    services.debit(user=warned, amount="15.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    sandbox_events.deliver(client)
    assert balance_of(warned) == Decimal("0.00")

    assert check_ledger().ok
    totals = money_totals()
    assert totals.ok, totals
    stripe = stripe_figures()
    assert totals.credits == stripe["collected"] == Decimal("390.00")
    assert totals.card_refunds == stripe["refunded"] == Decimal("65.00")  # 20 by staff + 45 for the warning
    # What disputes took from balances plus what is still owed is what Stripe withdrew, net of those won.
    assert totals.disputes - totals.reinstated + totals.owed == stripe["withdrawn"] - stripe["reinstated"]
    assert stripe["withdrawn"] == Decimal("180.00") and stripe["reinstated"] == Decimal("80.00")
    assert totals.owed == Decimal("20.00")
