"""Issue 11 #1: a balance never grows past WALLET_MAX_BALANCE by request, nor past the column ever.

Before the fix two adjustments (+9,999,999,999.99 then +1.00) stored 10,000,000,000.99 on SQLite and
every page showing that user answered 500; on PostgreSQL the settle path would have overflowed with
the card already charged.
"""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DataError, IntegrityError, transaction
from django.urls import reverse

from wallet import payments, services
from wallet.exceptions import BalanceLimitExceeded
from wallet.health import check_ledger
from wallet.models import CardRefund, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

COLUMN_MAX = Decimal("9999999999.99")


@pytest.fixture
def superuser(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


def test_adjustment_past_the_limit_is_refused_without_side_effects(user, superuser, settings):
    settings.WALLET_MAX_BALANCE = Decimal("100000.00")
    services.adjust(user=user, amount="99990.00", reason="seed", staff=superuser)
    with pytest.raises(BalanceLimitExceeded, match=r"above the wallet limit of 100,000\.00 AED.*10\.00 AED can"):
        services.adjust(user=user, amount="10.01", reason="too much", staff=superuser)
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("99990.00")
    assert WalletTransaction.objects.filter(user=user).count() == 1
    services.adjust(user=user, amount="10.00", reason="exactly to the limit", staff=superuser)


def test_the_pentest_sequence_can_no_longer_pass_the_column(user, superuser, settings):
    settings.WALLET_MAX_BALANCE = COLUMN_MAX  # even configured at the column's bound
    services.adjust(user=user, amount=COLUMN_MAX, reason="max", staff=superuser)
    with pytest.raises(BalanceLimitExceeded, match="cannot hold"):
        services.adjust(user=user, amount="1.00", reason="one more", staff=superuser)
    with pytest.raises(BalanceLimitExceeded, match="cannot hold"):
        services.credit(user=user, amount="0.01", type=TxType.AGENT_REFUND, description="refund")
    user.refresh_from_db()
    assert user.wallet_balance == COLUMN_MAX
    assert check_ledger().ok


def test_a_debit_is_never_refused_for_the_ceiling(user, superuser, settings):
    services.adjust(user=user, amount="500.00", reason="seed", staff=superuser)
    settings.WALLET_MAX_BALANCE = Decimal("100.00")  # lowered below what the wallet holds
    services.adjust(user=user, amount="-1.00", reason="still allowed", staff=superuser)
    services.debit(user=user, amount="1.00", type=TxType.AGENT_USAGE, description="spend")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("498.00")


def test_the_database_refuses_a_balance_past_the_column(user):
    from django.contrib.auth import get_user_model

    # Written past the services: SQLite's CHECK (named) and PostgreSQL's NUMERIC(12,2) both refuse.
    refused = r"user_wallet_balance_within_column|numeric field overflow"
    with pytest.raises((IntegrityError, DataError), match=refused), transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(wallet_balance=Decimal("10000000000.00"))


def test_start_topup_past_the_limit_charges_nothing(user, superuser, settings, monkeypatch):
    settings.WALLET_MAX_BALANCE = Decimal("1000.00")
    services.adjust(user=user, amount="950.00", reason="seed", staff=superuser)

    def never(**kwargs):
        raise AssertionError("Stripe must not be called")

    monkeypatch.setattr(payments, "create_and_confirm_intent", never)
    with pytest.raises(BalanceLimitExceeded, match=r"at most 1,000\.00 AED\. You can add up to 50\.00 AED now\."):
        services.start_topup(user=user, amount="60.00", payment_method_id="pm_card_visa", idempotency_key="k")
    assert not TopUp.objects.exists()


def test_create_payment_intent_past_the_limit_answers_400_with_the_reason(client, user, superuser, settings):
    settings.WALLET_MAX_BALANCE = Decimal("1000.00")
    services.adjust(user=user, amount="999.00", reason="seed", staff=superuser)
    client.force_login(user)
    response = client.post(
        reverse("wallet:create_payment_intent"),
        {"amount": "10.00", "payment_method_id": "pm_card_visa", "idempotency_key": "k-limit"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "at most 1,000.00 AED" in response.json()["error"]
    assert "Spend some of your balance" in response.json()["error"]  # 1.00 is below the top-up minimum
    assert not TopUp.objects.exists()


def _topup_awaiting_3ds(user, stripe_sandbox, amount="10.00"):
    result = services.start_topup(
        user=user, amount=amount, payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="race"
    )
    assert result.status == TopUp.Status.REQUIRES_ACTION
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=True)
    return payments.retrieve_intent(intent.id)


def test_collected_payment_above_the_setting_but_within_the_column_is_credited(
    user, superuser, settings, stripe_sandbox
):
    settings.WALLET_MAX_BALANCE = Decimal("1000.00")
    intent = _topup_awaiting_3ds(user, stripe_sandbox)  # started with room
    services.adjust(user=user, amount="1000.00", reason="meanwhile", staff=superuser)
    settled = services.settle_topup(intent=intent)
    assert settled.credited_now and settled.new_balance == Decimal("1010.00")
    assert check_ledger().ok


def test_collected_payment_the_column_cannot_hold_is_returned_to_the_card(
    user, superuser, settings, stripe_sandbox, django_capture_on_commit_callbacks
):
    intent = _topup_awaiting_3ds(user, stripe_sandbox, amount="10.00")
    settings.WALLET_MAX_BALANCE = COLUMN_MAX
    services.adjust(user=user, amount=COLUMN_MAX - Decimal("5.00"), reason="meanwhile", staff=superuser)
    with django_capture_on_commit_callbacks(execute=True):
        settled = services.settle_topup(intent=intent)
    assert not settled.credited_now
    topup = TopUp.objects.get(pk=settled.topup.pk)
    assert topup.status == TopUp.Status.RETURNED and "Returned to your card" in topup.failure_reason
    refund = CardRefund.objects.get(topup=topup)
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.stripe_refund_id
    assert refund.amount == Decimal("10.00") and refund.debit_transaction is None
    stripe_refunds = stripe_sandbox.request("GET", "/v1/refunds?limit=10")["data"]
    assert [r["amount"] for r in stripe_refunds] == [1000]
    user.refresh_from_db()
    assert user.wallet_balance == COLUMN_MAX - Decimal("5.00")
    assert not WalletTransaction.objects.filter(type=TxType.TOP_UP).exists()
    # Every later path is a no-op: settle again, reconcile, and Stripe's charge.refunded for it.
    again = services.settle_topup(intent=payments.retrieve_intent(intent.id))
    assert not again.credited_now and CardRefund.objects.count() == 1
    assert services.record_external_refund(
        payment_intent_id=intent.id, charge_id="ch_x", amount_refunded_minor=1000, currency="aed"
    ) is None
    call_command("reconcile_topups", "--older-than", "0s")
    assert CardRefund.objects.count() == 1 and TopUp.objects.get(pk=topup.pk).status == TopUp.Status.RETURNED
    assert check_ledger().ok


def test_return_left_pending_by_an_outage_is_retried_by_reconcile(
    user, superuser, settings, stripe_sandbox, django_capture_on_commit_callbacks, monkeypatch
):
    from wallet.exceptions import PaymentProviderUnavailable

    intent = _topup_awaiting_3ds(user, stripe_sandbox)
    settings.WALLET_MAX_BALANCE = COLUMN_MAX
    services.adjust(user=user, amount=COLUMN_MAX, reason="full", staff=superuser)
    real = payments.create_refund

    def down(**kwargs):
        raise PaymentProviderUnavailable("down")

    monkeypatch.setattr(payments, "create_refund", down)
    with django_capture_on_commit_callbacks(execute=True):
        services.settle_topup(intent=intent)
    refund = CardRefund.objects.get()
    assert refund.status == CardRefund.Status.PENDING
    monkeypatch.setattr(payments, "create_refund", real)
    call_command("reconcile_topups", "--older-than", "0s")
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.SUCCEEDED
    assert check_ledger().ok


def test_every_money_page_survives_the_largest_balance(client, make_user, superuser, settings):
    settings.WALLET_MAX_BALANCE = COLUMN_MAX
    rich = [make_user(email=f"rich{i}@example.com", password="Sup3r-secret-pass") for i in range(2)]
    for person in rich:
        services.adjust(user=person, amount=COLUMN_MAX, reason="max", staff=superuser)
    # Totals over both users pass 12 digits: the ledger admin's sums and the health page must cope.
    logged_in = client.post(reverse("authentication:login"), {"username": "rich0@example.com", "password": "Sup3r-secret-pass"})
    assert logged_in.status_code == 302
    assert client.get(reverse("wallet:topup")).status_code == 200
    assert client.get(reverse("wallet:history")).status_code == 200
    assert client.get(reverse("wallet:history_csv")).status_code == 200
    client.force_login(superuser)
    for url in (
        reverse("admin:authentication_user_change", args=[rich[0].pk]),
        reverse("admin:authentication_user_changelist"),
        reverse("admin:wallet_wallettransaction_changelist"),
        reverse("admin:wallet_ledger_health"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert re.search(r"9,999,999,999\.99|9999999999\.99", client.get(
        reverse("admin:authentication_user_change", args=[rich[0].pk])).content.decode())
    call_command("check_ledger")


def test_adjust_form_refuses_over_the_limit_at_the_first_step(client, user, superuser, settings):
    settings.WALLET_MAX_BALANCE = Decimal("100.00")
    services.adjust(user=user, amount="90.00", reason="seed", staff=superuser)
    client.force_login(superuser)
    url = reverse("admin:authentication_user_adjust_balance", args=[user.pk])
    body = client.post(url, {"amount": "20.00", "reason": "too much"}).content.decode()
    assert 'name="token"' not in body
    assert "A wallet can hold at most 100.00 AED: at most 10.00 AED can be credited." in body
