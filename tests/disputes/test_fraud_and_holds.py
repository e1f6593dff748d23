"""Early fraud warnings (Stripe's card 5423 in the sandbox) and account holds: who may hold, what a
held account may still do, and the constraints behind owed money and disputes."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction

from tests.disputes.conftest import FRAUD_WARNING_CARD
from tests.helpers import balance_of, create_topup, use_agent
from wallet import payments, services
from wallet.exceptions import AccountOnHold
from wallet.models import AccountHoldEvent, CardRefund, Dispute, EarlyFraudWarning, OwedBalance, TxType
from wallet.reconcile import reconcile_topups
from wallet.services import holds

pytestmark = pytest.mark.django_db


def test_early_fraud_warning_refunds_what_the_wallet_holds_and_holds_the_account(
    user, client, pay, sandbox_events, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    topup = pay(user, "100.00", FRAUD_WARNING_CARD)
    assert sandbox_events.types() == ["radar.early_fraud_warning.created"]
    services.debit(user=user, amount="25.00", type=TxType.AGENT_USAGE, description="Agent run: test")
    with django_capture_on_commit_callbacks(execute=True):
        [answer] = sandbox_events.deliver(client)
    assert answer.status_code == 200
    warning = EarlyFraudWarning.objects.get()
    assert warning.topup == topup and warning.actionable
    refund = CardRefund.objects.get(topup=topup)
    assert refund.amount == Decimal("75.00") and refund.status == CardRefund.Status.SUCCEEDED
    assert warning.refund == refund and "75.00 AED refunded" in warning.outcome
    assert balance_of(user) == Decimal("0.00")
    user.refresh_from_db()
    assert user.is_on_hold and "fraudulent" in user.hold_reason
    assert any(m.to == ["ops@example.com"] and "Early fraud warning" in m.subject for m in mailoutbox)

    # Replayed, and seen again by reconciliation: nothing more happens.
    sandbox_events.deliver(client)
    reconcile_topups()
    assert CardRefund.objects.filter(topup=topup).count() == 1
    assert AccountHoldEvent.objects.filter(user=user).count() == 1


def test_early_fraud_warning_seen_by_reconcile_only(user, pay, stripe_sandbox, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    topup = pay(user, "40.00", FRAUD_WARNING_CARD)
    report = reconcile_topups()
    assert any(line.startswith("early fraud warning issfr_") for line in report.lines), report.lines
    assert CardRefund.objects.get(topup=topup).amount == Decimal("40.00")
    assert get_user_model().objects.get(pk=user.pk).is_on_hold


@pytest.fixture
def held(user, make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    assert holds.hold_account(user=user, reason="We are checking a disputed payment", staff=staff)
    return user


def test_a_held_account_gets_403_with_words_on_every_money_endpoint(held, client, agent, make_user):
    client.force_login(held)
    answers = {
        "top-up": create_topup(client, amount="20.00", pm="pm_card_visa", key=uuid.uuid4().hex),
        "agent run": use_agent(client, agent.slug, "https://example.com"),
    }
    for what, answer in answers.items():
        assert answer.status_code == 403, what
        body = answer.json()
        assert body["code"] == "account_on_hold", what
        assert "checking a disputed payment" in body["error"] and "replying to any of our emails" in body["error"]
    # Reading the history still works, with the banner saying why and whom to contact.
    page = client.get("/wallet/history/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="hold-banner"' in text and "We are checking a disputed payment" in text
    assert "Reply to any of our emails" in text


def test_held_account_cannot_refund_or_auto_recharge(held, make_user, stripe_sandbox):
    from wallet.models import TopUp
    from wallet.services import billing

    staff = make_user(is_staff=True)
    topup = TopUp.objects.create(user=held, amount=Decimal("10.00"), currency="aed", idempotency_key="k",
                                 stripe_payment_intent_id="pi_x", status=TopUp.Status.FAILED)
    with pytest.raises(AccountOnHold):
        services.refund_topup(topup=topup, amount="5.00", reason="asked", staff=staff)
    assert billing.run_auto_recharge(user_id=held.pk) in {"not needed", "account on hold"}


def test_money_in_flight_settles_on_a_held_account(user, make_user, stripe_sandbox):
    # A 3-D Secure top-up started before the hold and finished after it is credited.
    from tests.helpers import authenticated_but_unconfirmed

    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    holds.hold_account(user=user, reason="Review", staff=None)
    result = services.settle_topup(intent=payments.retrieve_intent(topup.stripe_payment_intent_id))
    assert result.credited_now and balance_of(user) == Decimal("25.00")


def test_holding_needs_the_permission_and_a_reason_and_is_audited(user, make_user):
    clerk = make_user(is_staff=True)
    with pytest.raises(holds.HoldNotAllowed):
        holds.hold_account(user=user, reason="Looks odd", staff=clerk)
    clerk.user_permissions.add(Permission.objects.get(codename="hold_account"))
    clerk = get_user_model().objects.get(pk=clerk.pk)  # fresh permission cache
    with pytest.raises(holds.HoldNotAllowed):
        holds.hold_account(user=user, reason="  ", staff=clerk)
    assert holds.hold_account(user=user, reason="Looks odd", staff=clerk)
    assert not holds.hold_account(user=user, reason="Again", staff=clerk)  # already held: first reason stays
    assert holds.release_account(user=user, reason="Cleared", staff=clerk)
    events = list(AccountHoldEvent.objects.filter(user=user).order_by("created_at").values_list(
        "action", "reason", "staff_id"))
    assert events == [("hold", "Looks odd", clerk.pk), ("release", "Cleared", clerk.pk)]
    user.refresh_from_db()
    assert not user.is_on_hold and user.hold_reason == ""


def test_constraints_refuse_negative_owed_and_inconsistent_disputes(user, make_user):
    from wallet.models import TopUp

    OwedBalance.objects.create(user=user, amount=Decimal("5.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        OwedBalance.objects.filter(user=user).update(amount=Decimal("-0.01"))
    topup = TopUp.objects.create(user=user, amount=Decimal("10.00"), currency="aed", idempotency_key="c")
    dispute = Dispute.objects.create(
        stripe_dispute_id="dp_1", topup=topup, user=user, disputed_amount=Decimal("10.00"),
        amount=Decimal("10.00"), taken_amount=Decimal("4.00"), owed_amount=Decimal("6.00"), status="lost",
    )
    Dispute.objects.filter(pk=dispute.pk).update(withdrawn_at="2026-01-01T00:00:00Z")
    for bad in ({"owed_amount": Decimal("7.00")}, {"amount": Decimal("11.00")},
                {"reinstated_amount": Decimal("10.01")}, {"taken_amount": Decimal("-1.00")}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Dispute.objects.filter(pk=dispute.pk).update(**bad)
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(stripe_dispute_id="dp_1", topup=topup, user=user, disputed_amount=Decimal("1"),
                               amount=Decimal("1"), status="lost")
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountHoldEvent.objects.create(user=user, action="hold", reason="")
