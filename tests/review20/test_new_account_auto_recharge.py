"""Review of issue 20: NEW_ACCOUNT_TOPUP_LIMIT is the total a new account may top up in its first day,
and automatic top-ups are top-ups: a card saved with the first payment was charged again by
auto-recharge past the first-day total (a stolen card that works is exactly what the cap limits)."""

import uuid
from decimal import Decimal

import pytest

from wallet import services
from wallet.models import BillingSettings, TopUp, TxType
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)


def test_auto_recharge_stays_within_the_first_day_total_of_a_new_account(make_user, stripe_sandbox):
    fresh = make_user(new_account=True)
    first = services.start_topup(user=fresh, amount="400.00", payment_method_id=stripe_sandbox.card(),
                                 idempotency_key=str(uuid.uuid4()), save_card=True)
    assert first.credited_now
    billing.save_settings(user=fresh, values={
        "auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("50.00"),
        "auto_recharge_amount": Decimal("300.00"), "auto_recharge_monthly_limit": None,
        "low_balance_alert": None, "monthly_spend_limit": None,
    })
    services.debit(user=fresh, amount="380.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    billing.run_auto_recharge(user_id=fresh.pk)
    automatic = list(TopUp.objects.filter(user=fresh, is_automatic=True).values_list("amount", "status"))
    assert automatic == [(Decimal("100.00"), TopUp.Status.SUCCEEDED)]  # 500.00 - 400.00, not 300.00
    assert "first day" in BillingSettings.objects.get(pk=fresh.pk).auto_recharge_notice
    # Full: nothing more today.
    services.debit(user=fresh, amount="100.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    assert billing.run_auto_recharge(user_id=fresh.pk) == "nothing fits"
    assert TopUp.objects.filter(user=fresh, is_automatic=True).count() == 1


def test_an_older_account_recharges_the_configured_amount(make_user, stripe_sandbox):
    older = make_user()
    services.start_topup(user=older, amount="400.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key=str(uuid.uuid4()), save_card=True)
    billing.save_settings(user=older, values={
        "auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("50.00"),
        "auto_recharge_amount": Decimal("300.00"), "auto_recharge_monthly_limit": None,
        "low_balance_alert": None, "monthly_spend_limit": None,
    })
    services.debit(user=older, amount="380.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    billing.run_auto_recharge(user_id=older.pk)
    assert list(TopUp.objects.filter(user=older, is_automatic=True).values_list("amount", flat=True)) == [
        Decimal("300.00")]
