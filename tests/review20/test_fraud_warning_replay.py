"""Review of issue 20: an early fraud warning handled again after its refund was made but before its
outcome was written (a worker killed between the two, then the event retried) must still say what
was refunded and link the refund: the replay found the refund's single-use key taken and recorded
only "the refund was already made", with no refund on the warning for ops to follow."""

from decimal import Decimal

import pytest

from tests.disputes.conftest import FRAUD_WARNING_CARD
from wallet import payments, services
from wallet.models import CardRefund, EarlyFraudWarning, TxType
from wallet.services.chargebacks import sync_fraud_warning

pytestmark = pytest.mark.django_db


def test_a_warning_replayed_after_its_refund_still_links_and_describes_it(user, client, pay, sandbox_events):
    topup = pay(user, "100.00", FRAUD_WARNING_CARD)
    services.debit(user=user, amount="40.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    sandbox_events.deliver(client)
    warning = EarlyFraudWarning.objects.get()
    refund = CardRefund.objects.get(topup=topup)
    # The state a crash right after the refund leaves: refund made, warning not yet finished.
    EarlyFraudWarning.objects.filter(pk=warning.pk).update(outcome="", refund=None)
    # Handled again: reconciliation lists it (or Stripe sends another event about it).
    sync_fraud_warning(payments.retrieve_fraud_warning(warning.stripe_warning_id))
    warning.refresh_from_db()
    assert warning.refund == refund
    assert "60.00 AED refunded" in warning.outcome, warning.outcome
    assert CardRefund.objects.filter(topup=topup).count() == 1 and refund.amount == Decimal("60.00")
