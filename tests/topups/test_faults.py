"""Fault tests against a real localstripe: whatever breaks, a succeeded intent is credited exactly once."""

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from tests.helpers import WEBHOOK_SECRET as SECRET
from tests.helpers import authenticated_but_unconfirmed, intent_event, post_event
from wallet import payments, reconcile, services
from wallet.exceptions import PaymentProviderUnavailable
from wallet.models import StripeEvent, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def reconcile_now():
    return reconcile.reconcile_topups(older_than=timedelta(0), limit=100, dry_run=False)


def top_up_rows(user=None):
    rows = WalletTransaction.objects.filter(type=TxType.TOP_UP)
    return rows.filter(user=user) if user else rows


def test_browser_never_confirms_after_3ds_reconcile_credits_once(user, stripe_sandbox):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    assert reconcile_now().credited == 1
    assert reconcile_now().credited == 0
    assert top_up_rows(user).count() == 1
    # The browser coming back late is a no-op too.
    late = services.settle_topup(intent=payments.retrieve_intent(topup.stripe_payment_intent_id), user=user)
    assert not late.credited_now and late.status == TopUp.Status.SUCCEEDED
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")


@pytest.mark.parametrize("next_path", ["confirm", "webhook", "reconcile"])
def test_crash_between_stripe_success_and_our_credit(next_path, user, stripe_sandbox, settings, client, monkeypatch):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    intent = payments.retrieve_intent(topup.stripe_payment_intent_id)
    assert intent.status == "succeeded"

    def crash(**kwargs):
        raise RuntimeError("process killed mid-settle")

    monkeypatch.setattr(services.ledger, "apply_change", crash)  # where settle_topup looks it up
    with pytest.raises(RuntimeError, match="process killed mid-settle"):
        services.settle_topup(intent=intent, user=user)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.REQUIRES_ACTION and topup.credit_transaction is None
    assert not WalletTransaction.objects.exists()
    user.refresh_from_db()
    assert user.wallet_balance == 0
    monkeypatch.undo()

    if next_path == "confirm":
        assert services.settle_topup(intent=payments.retrieve_intent(intent.id), user=user).credited_now
    elif next_path == "webhook":
        assert post_event(client, intent_event(intent.id)).status_code == 200
    else:
        assert reconcile_now().credited == 1
    # ...and every other path afterwards credits nothing.
    assert post_event(client, intent_event(intent.id)).status_code == 200
    assert reconcile_now().credited == 0
    assert not services.settle_topup(intent=payments.retrieve_intent(intent.id)).credited_now
    assert top_up_rows(user).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")


def test_stripe_unreachable_during_create_credits_nothing(user, stripe_sandbox, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_TIMEOUT_SECONDS = 2
    payments.reset_client()
    with pytest.raises(PaymentProviderUnavailable, match="could not be reached"):
        services.start_topup(user=user, amount="30.00", payment_method_id="pm_card_visa", idempotency_key="down")
    topup = TopUp.objects.get(user=user)
    # Left for reconcile (the intent may exist), never credited; the view answers 503 for this error.
    assert topup.status == TopUp.Status.PENDING and topup.stripe_payment_intent_id is None
    assert not WalletTransaction.objects.exists()

    # Stripe back: reconcile finds no intent; after TOPUP_UNSTARTED_AFTER it fails the top-up.
    settings.STRIPE_API_BASE = stripe_sandbox.url
    payments.reset_client()
    assert reconcile_now().counts == {"waiting": 1}
    settings.TOPUP_UNSTARTED_AFTER = timedelta(0)
    assert reconcile_now().counts == {"failed": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED
    assert not WalletTransaction.objects.exists()


def test_create_response_lost_after_stripe_charged(user, stripe_sandbox, settings, monkeypatch):
    real_create = payments.create_and_confirm_intent

    def charged_then_timed_out(**kwargs):
        real_create(**kwargs)  # Stripe did it ...
        raise PaymentProviderUnavailable("The payment provider could not be reached.")  # ... we never heard

    monkeypatch.setattr(payments, "create_and_confirm_intent", charged_then_timed_out)
    with pytest.raises(PaymentProviderUnavailable, match="could not be reached"):
        services.start_topup(user=user, amount="30.00", payment_method_id="pm_card_visa", idempotency_key="lost")
    monkeypatch.undo()
    topup = TopUp.objects.get(user=user)
    assert topup.stripe_payment_intent_id is None and not WalletTransaction.objects.exists()

    settings.TOPUP_UNSTARTED_AFTER = timedelta(0)  # even so: the intent is found by metadata, never failed
    assert reconcile_now().credited == 1
    assert reconcile_now().credited == 0
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED and topup.stripe_payment_intent_id.startswith("pi_")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("30.00")


@pytest.mark.django_db(transaction=True)
def test_webhook_racing_the_browser_confirm_credits_once(make_user, stripe_sandbox, settings):
    from django.test import Client

    from tests.concurrency import run_concurrently

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    user = make_user()
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="40.00")
    intent_id = topup.stripe_payment_intent_id
    event = intent_event(intent_id)

    def worker(i):
        if i % 3 == 0:
            return post_event(Client(), event).status_code  # the same event, delivered several times
        if i % 3 == 1:
            return post_event(Client(), intent_event(intent_id)).status_code  # distinct events
        return services.settle_topup(intent=payments.retrieve_intent(intent_id), user=user).credited_now

    results = run_concurrently(worker, 9)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [r for r in results if isinstance(r, int) and not isinstance(r, bool)] == [200] * 6
    assert top_up_rows(user).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")
    assert StripeEvent.objects.filter(pk=event["id"]).count() == 1
    assert not StripeEvent.objects.filter(processed_at__isnull=True).exists()


def test_check_ledger_after_every_fault(user, make_user, stripe_sandbox, settings, client, monkeypatch):
    """All paths and faults on one set of data; the ledger must add up afterwards."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    staff = make_user(is_staff=True)
    by_webhook = authenticated_but_unconfirmed(user, stripe_sandbox, amount="20.00")
    by_reconcile = authenticated_but_unconfirmed(user, stripe_sandbox, amount="30.00")
    post_event(client, intent_event(by_webhook.stripe_payment_intent_id))
    post_event(client, intent_event(by_webhook.stripe_payment_intent_id))
    reconcile_now()
    by_browser = services.start_topup(
        user=user, amount="50.00", payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    ).topup
    services.refund_topup(topup=by_browser, amount="15.00", reason="ok", staff=staff)
    monkeypatch.setattr(
        payments, "create_refund",
        lambda **kw: (_ for _ in ()).throw(PaymentProviderUnavailable("down")),
    )
    services.refund_topup(topup=by_reconcile, amount="5.00", reason="pending", staff=staff)
    monkeypatch.undo()
    reconcile_now()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("80.00")
    assert top_up_rows(user).count() == 3
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK." in out.getvalue()
