"""Issue 18, items 6-9, 12, 13: auto-recharge people can trust (sandbox Stripe, real commits)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.concurrency import run_concurrently
from wallet import payments, services
from wallet.exceptions import PaymentProviderUnavailable
from wallet.models import BillingSettings, TopUp, TxType
from wallet.payments import Intent, IntentStatus
from wallet.reconcile import reconcile_topups
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)

DECLINED = "4000000000000341"  # attaches, then declines every charge


def values(*, threshold="50.00", amount="100.00", monthly_limit=None):
    return {
        "auto_recharge_enabled": True,
        "auto_recharge_threshold": Decimal(threshold),
        "auto_recharge_amount": Decimal(amount),
        "auto_recharge_monthly_limit": None if monthly_limit is None else Decimal(monthly_limit),
        "low_balance_alert": None,
        "monthly_spend_limit": None,
    }


def save_card(user, stripe_sandbox, amount="60.00"):
    return services.start_topup(user=user, amount=amount, payment_method_id=stripe_sandbox.card(),
                                idempotency_key=str(uuid.uuid4()), save_card=True)


def make_declining(user, stripe_sandbox):
    declined = stripe_sandbox.card(DECLINED)
    customer = BillingSettings.objects.get(pk=user.pk).stripe_customer_id
    payments.attach_payment_method(payment_method=declined, customer=customer)
    billing.remember_card(user_id=user.pk, payment_method=declined)
    billing.use_card(user=user, payment_method=declined)  # a new card is never chosen on its own


def spend(user, amount):
    return services.debit(user=user, amount=amount, type=TxType.AGENT_USAGE, description="test spend")


def autos():
    return TopUp.objects.filter(is_automatic=True)


def test_twenty_saves_on_a_declining_card_make_at_most_one_charge_attempt(user, stripe_sandbox):
    """Item 6: saves re-armed the failing recharge each time (107 saves, 56 attempts)."""
    save_card(user, stripe_sandbox)
    billing.save_settings(user=user, values=values(threshold="10.00"))
    make_declining(user, stripe_sandbox)
    spend(user, "55.00")  # 5.00 < 10.00: the first attempt, declined
    assert autos().count() == 1
    for i in range(20):
        billing.save_settings(user=user, values=values(threshold=f"{20 + i}.00"))
    assert autos().count() == 1
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_failures == 1 and row.auto_recharge_retry_after > timezone.now()


def test_only_resume_or_another_card_ends_the_back_off(user, stripe_sandbox):
    """Item 6: the explicit resume, or choosing another card, clears the back-off; a save does not."""
    save_card(user, stripe_sandbox)
    good = BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method
    billing.save_settings(user=user, values=values(threshold="10.00"))
    make_declining(user, stripe_sandbox)
    spend(user, "55.00")  # declined: backing off
    billing.save_settings(user=user, values=values(threshold="20.00"))
    spend(user, "1.00")
    assert autos().count() == 1
    billing.use_card(user=user, payment_method=good)
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_failures == 0 and row.auto_recharge_retry_after is None
    spend(user, "1.00")
    assert autos().filter(status=TopUp.Status.SUCCEEDED).count() == 1
    make_declining(user, stripe_sandbox)
    spend(user, "100.00")  # declined again: backing off
    assert autos().count() == 3 and BillingSettings.objects.get(pk=user.pk).auto_recharge_retry_after
    billing.save_settings(user=user, values=values(threshold="30.00"))  # a save: still backing off
    assert autos().count() == 3
    billing.resume_auto_recharge(user=user)  # the explicit resume tries at once (declined again)
    assert autos().count() == 4


def test_ten_parallel_saves_make_one_charge_of_the_configured_amount(user, stripe_sandbox, settings):
    """Item 7: ten parallel saves with amount 2.00 charged 9 x 10,000 AED."""
    settings.WALLET_MAX_BALANCE = Decimal("10000.00")
    save_card(user, stripe_sandbox, amount="20.00")
    results = run_concurrently(
        lambda i: billing.save_settings(user=user, values=values(threshold="5000.00", amount="2.00")), 10
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert list(autos().values_list("amount", "status")) == [(Decimal("2.00"), TopUp.Status.SUCCEEDED)]
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("22.00")
    call_command("check_ledger")


@pytest.mark.parametrize("kind", [TxType.CARD_REFUND, TxType.ADJUSTMENT])
def test_only_spending_triggers_a_recharge(user, stripe_sandbox, kind):
    """Item 8: a refund to the card (or an adjustment) below the threshold was charged back at once."""
    save_card(user, stripe_sandbox, amount="60.00")
    billing.save_settings(user=user, values=values())
    services.debit(user=user, amount="20.00", type=kind, description="not spending")  # 40.00 < 50.00
    assert not autos().exists()
    spend(user, "1.00")
    assert autos().get().status == TopUp.Status.SUCCEEDED


def test_a_refund_to_card_through_the_refund_service_never_recharges(user, make_user, stripe_sandbox):
    result = save_card(user, stripe_sandbox, amount="60.00")
    billing.save_settings(user=user, values=values())
    staff = make_user(is_staff=True, is_superuser=True)
    services.refund_topup(topup=result.topup, amount="20.00", staff=staff, reason="customer asked")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00") and not autos().exists()


def _automatic_topup(user):
    return TopUp.objects.create(user=user, amount=Decimal("100.00"), currency="AED",
                                idempotency_key=f"auto-{uuid.uuid4()}", is_automatic=True)


def test_the_transaction_that_fails_an_automatic_topup_starts_the_back_off(user):
    """Items 12 and 13: the failure, the back-off and the count commit with the failed status, whoever
    marks it (the task, reconciliation, a webhook through settle_topup); once per top-up."""
    BillingSettings.objects.create(user=user, auto_recharge_enabled=True, auto_recharge_threshold=Decimal("10"),
                                   auto_recharge_amount=Decimal("100"))
    first = _automatic_topup(user)
    services.mark_topup(first.pk, status=TopUp.Status.FAILED, failure_reason="Declined.")
    services.mark_topup(first.pk, status=TopUp.Status.FAILED, failure_reason="Declined.")  # final: no-op
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_failures == 1 and row.auto_recharge_retry_after > timezone.now()
    assert "Declined." in row.auto_recharge_notice
    second = _automatic_topup(user)
    TopUp.objects.filter(pk=second.pk).update(stripe_payment_intent_id="pi_webhook")
    failed = Intent(id="pi_webhook", status=IntentStatus.REQUIRES_PAYMENT_METHOD, amount=10000, currency="aed",
                    last_error_message="Your card was declined.")
    services.settle_topup(intent=failed)  # what the webhook does
    services.settle_topup(intent=failed)  # delivered twice
    row.refresh_from_db()
    assert row.auto_recharge_failures == 2


def test_a_stripe_blip_is_resolved_within_minutes_and_backs_off(user, stripe_sandbox, monkeypatch, settings):
    """Item 13: Stripe unreachable during the off-session charge left the TopUp pending with no
    intent for TOPUP_UNSTARTED_AFTER (1 h), blocking every recharge; now minutes, then the back-off."""
    settings.AUTO_RECHARGE_UNSTARTED_AFTER = timedelta(minutes=5)
    save_card(user, stripe_sandbox, amount="60.00")
    billing.save_settings(user=user, values=values())

    def unreachable(**kwargs):
        raise PaymentProviderUnavailable("connection refused")

    monkeypatch.setattr(payments, "charge_saved_card", unreachable)
    spend(user, "20.00")
    auto = autos().get()
    assert auto.status == TopUp.Status.PENDING and auto.stripe_payment_intent_id is None
    reconcile_topups(older_than=timedelta(0))
    auto.refresh_from_db()
    assert auto.status == TopUp.Status.PENDING  # Stripe's search may lag: not yet
    TopUp.objects.filter(pk=auto.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    reconcile_topups(older_than=timedelta(0))
    auto.refresh_from_db()
    assert auto.status == TopUp.Status.FAILED
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_failures == 1 and row.auto_recharge_retry_after > timezone.now()
    monkeypatch.undo()
    spend(user, "1.00")  # backing off: no new attempt
    assert autos().count() == 1
