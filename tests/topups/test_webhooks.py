"""The Stripe webhook endpoint against a real localstripe: signed events, dedup, settle, refunds."""

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from tests.helpers import (
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    authenticated_but_unconfirmed,
    intent_event,
    make_event,
    post_event,
    sign_webhook,
)
from wallet import payments, services
from wallet.models import CardRefund, StripeEvent, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

SECRET = WEBHOOK_SECRET
URL = WEBHOOK_URL


# --- signature and transport -----------------------------------------------------------------------


def test_succeeded_event_credits_once_and_redelivery_is_acknowledged(user, stripe_sandbox, webhook_secret, client):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    event = intent_event(topup.stripe_payment_intent_id)

    first = post_event(client, event)
    assert first.status_code == 200 and first.json() == {"status": "ok"}
    second = post_event(client, event)
    assert second.status_code == 200 and second.json() == {"status": "duplicate"}

    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    assert WalletTransaction.objects.filter(user=user, type=TxType.TOP_UP).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")
    stored = StripeEvent.objects.get()
    assert stored.id == event["id"] and stored.type == "payment_intent.succeeded"
    assert stored.processed_at is not None and stored.error == ""


def test_amounts_in_the_event_body_are_not_trusted(user, stripe_sandbox, webhook_secret, client):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    event = intent_event(topup.stripe_payment_intent_id, amount=99999900, amount_received=99999900)
    assert post_event(client, event).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")


def test_webhook_is_csrf_exempt_and_post_only(user, stripe_sandbox, webhook_secret):
    strict = Client(enforce_csrf_checks=True)
    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    assert post_event(strict, intent_event(topup.stripe_payment_intent_id)).status_code == 200
    assert strict.get(URL).status_code == 405


@pytest.mark.parametrize("fault", ["wrong_secret", "stale", "altered", "missing", "garbage"])
def test_bad_signatures_are_rejected_and_nothing_written(fault, user, stripe_sandbox, webhook_secret, client):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    event = intent_event(topup.stripe_payment_intent_id)
    body = json.dumps(event).encode()
    header = sign_webhook(body)
    if fault == "wrong_secret":
        header = sign_webhook(body, secret="whsec_someone_else")
    elif fault == "stale":
        header = sign_webhook(body, timestamp=int(time.time()) - 600)  # tolerance is 300 s
    elif fault == "altered":
        body = body.replace(b"payment_intent.succeeded", b"payment_intent.succeedeD")
    elif fault == "missing":
        header = ""
    else:
        header = "t=abc,v1=zzz"
    response = client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid signature."}
    assert not StripeEvent.objects.exists()
    assert not WalletTransaction.objects.filter(type=TxType.TOP_UP).exists()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.REQUIRES_ACTION


def test_endpoint_is_off_without_a_secret(settings, client):
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = json.dumps(make_event("payment_intent.succeeded", {"id": "pi_x"})).encode()
    response = client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign_webhook(body))
    assert response.status_code == 404
    assert not StripeEvent.objects.exists()


# --- intent events ----------------------------------------------------------------------------------


def test_payment_failed_marks_the_topup_failed(user, stripe_sandbox, webhook_secret, client):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="f"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=False)
    assert post_event(client, intent_event(intent.id, "payment_intent.payment_failed")).status_code == 200
    result.topup.refresh_from_db()
    assert result.topup.status == TopUp.Status.FAILED
    assert not WalletTransaction.objects.exists()


def test_canceled_marks_the_topup_canceled(user, stripe_sandbox, webhook_secret, client):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="c"
    )
    payments.cancel_intent(result.topup.stripe_payment_intent_id)
    event = intent_event(result.topup.stripe_payment_intent_id, "payment_intent.canceled")
    assert post_event(client, event).status_code == 200
    result.topup.refresh_from_db()
    assert result.topup.status == TopUp.Status.CANCELED


def test_unknown_events_are_stored_and_acknowledged(webhook_secret, client):
    event = make_event("customer.created", {"id": "cus_123", "object": "customer"})
    response = post_event(client, event)
    assert response.status_code == 200
    stored = StripeEvent.objects.get(pk=event["id"])
    assert stored.type == "customer.created" and stored.processed_at is not None
    assert stored.payload["data"]["object"]["id"] == "cus_123"


def test_an_intent_that_is_not_ours_is_ignored(user, stripe_sandbox, webhook_secret, client):
    foreign = stripe_sandbox.request(
        "POST", "/v1/payment_intents",
        {"amount": "5000", "currency": "aed", "payment_method": "pm_card_visa", "confirm": "true"},
    )
    assert foreign["status"] == "succeeded"
    assert post_event(client, intent_event(foreign["id"])).status_code == 200
    assert not WalletTransaction.objects.exists()
    assert StripeEvent.objects.get().processed_at is not None


def _intent_with_lost_response(user, sandbox, metadata_user_id=None):
    """A TopUp whose create call reached Stripe but whose response never reached us."""
    topup = TopUp.objects.create(user=user, amount=Decimal("40.00"), currency="AED", idempotency_key="lost")
    intent = sandbox.request(
        "POST", "/v1/payment_intents",
        {
            "amount": "4000", "currency": "aed", "payment_method": "pm_card_visa", "confirm": "true",
            "metadata[topup_id]": str(topup.id),
            "metadata[user_id]": str(metadata_user_id or user.pk),
        },
    )
    return topup, intent["id"]


def test_intent_found_by_metadata_when_create_response_was_lost(user, stripe_sandbox, webhook_secret, client):
    topup, intent_id = _intent_with_lost_response(user, stripe_sandbox)
    assert post_event(client, intent_event(intent_id)).status_code == 200
    topup.refresh_from_db()
    assert topup.stripe_payment_intent_id == intent_id and topup.status == TopUp.Status.SUCCEEDED
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")


def test_metadata_naming_another_user_is_not_credited(user, make_user, stripe_sandbox, webhook_secret, client):
    other = make_user()
    topup, intent_id = _intent_with_lost_response(user, stripe_sandbox, metadata_user_id=other.pk)
    assert post_event(client, intent_event(intent_id)).status_code == 200
    topup.refresh_from_db()
    assert topup.stripe_payment_intent_id is None and topup.status == TopUp.Status.PENDING
    assert not WalletTransaction.objects.exists()


def test_processing_error_answers_500_then_the_retry_credits(
    user, stripe_sandbox, webhook_secret, client, monkeypatch
):
    from wallet.exceptions import PaymentProviderUnavailable

    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    event = intent_event(topup.stripe_payment_intent_id)
    real_retrieve = payments.retrieve_intent

    def down(intent_id):
        raise PaymentProviderUnavailable("The payment provider could not be reached.")

    monkeypatch.setattr(payments, "retrieve_intent", down)
    failed = post_event(client, event)
    assert failed.status_code == 500
    assert failed.json() == {"error": "Processing failed."}  # no details to the caller
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None and "PaymentProviderUnavailable" in stored.error
    assert not WalletTransaction.objects.exists()

    monkeypatch.setattr(payments, "retrieve_intent", real_retrieve)
    retried = post_event(client, event)  # Stripe's retry: same event id
    assert retried.status_code == 200 and retried.json() == {"status": "ok"}
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == ""
    assert WalletTransaction.objects.filter(type=TxType.TOP_UP).count() == 1


# --- refunds made outside the app (charge.refunded) ---------------------------------------------------


def _settled(user, amount="100.00"):
    result = services.start_topup(
        user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.credited_now
    return result.topup


def _dashboard_refund(sandbox, intent_id: str, amount_minor: int) -> dict:
    """Refund in Stripe directly (as ops would in the dashboard); return the charge as it is now."""
    refund = sandbox.request("POST", "/v1/refunds", {"payment_intent": intent_id, "amount": str(amount_minor)})
    return sandbox.request("GET", f"/v1/charges/{refund['charge']}")


def test_dashboard_refund_debits_the_difference_once(user, stripe_sandbox, webhook_secret, client):
    topup = _settled(user)
    charge = _dashboard_refund(stripe_sandbox, topup.stripe_payment_intent_id, 3000)
    assert charge["amount_refunded"] == 3000
    event = make_event("charge.refunded", charge)
    assert post_event(client, event).status_code == 200
    assert post_event(client, event).json() == {"status": "duplicate"}
    # Stripe may also send a second, different event with the same charge state: nothing new.
    assert post_event(client, make_event("charge.refunded", charge)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("70.00")
    refund = CardRefund.objects.get()
    assert refund.amount == Decimal("30.00") and refund.requested_by is None
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.failure_reason == ""
    assert refund.debit_transaction.amount == Decimal("-30.00")
    assert refund.debit_transaction.type == TxType.CARD_REFUND

    # A second dashboard refund: the cumulative total grows by 20, so 20 more is debited.
    charge = _dashboard_refund(stripe_sandbox, topup.stripe_payment_intent_id, 2000)
    assert post_event(client, make_event("charge.refunded", charge)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("50.00")
    assert services.refundable_amount(topup) == Decimal("50.00")


def test_dashboard_refund_larger_than_the_balance_records_the_shortfall(
    user, stripe_sandbox, webhook_secret, client
):
    topup = _settled(user)
    services.debit(user=user, amount="90.00", type=TxType.AGENT_USAGE, description="spent")
    charge = _dashboard_refund(stripe_sandbox, topup.stripe_payment_intent_id, 3000)
    assert post_event(client, make_event("charge.refunded", charge)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")
    refund = CardRefund.objects.get()
    assert refund.amount == Decimal("30.00") and refund.debit_transaction.amount == Decimal("-10.00")
    assert refund.failure_reason.startswith("Shortfall 20.00 AED")


def test_our_own_refund_echoed_by_stripe_is_not_debited_twice(user, make_user, stripe_sandbox, webhook_secret, client):
    staff = make_user(is_staff=True)
    topup = _settled(user)
    refund = services.refund_topup(topup=topup, amount="40.00", reason="customer asked", staff=staff)
    assert refund.status == CardRefund.Status.SUCCEEDED
    charge_id = stripe_sandbox.request("GET", f"/v1/refunds/{refund.stripe_refund_id}")["charge"]
    charge = stripe_sandbox.request("GET", f"/v1/charges/{charge_id}")
    assert post_event(client, make_event("charge.refunded", charge)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("60.00")
    assert CardRefund.objects.count() == 1


# --- localstripe's own delivery ------------------------------------------------------------------------


@pytest.fixture
def delivered_webhooks(stripe_sandbox, live_server, settings):
    """Register our live server with localstripe; afterwards point it at no event type at all
    (registrations survive the data wipe, and later tests must not get stray deliveries)."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    stripe_sandbox.register_webhook(live_server.url + URL, SECRET, name="netcop-e2e")
    yield stripe_sandbox
    stripe_sandbox.request(
        "POST", "/_config/webhooks/netcop-e2e",
        {"url": live_server.url + URL, "secret": SECRET, "events[]": "never.sent"},
    )


@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_a_signed_event_that_credits(make_user, delivered_webhooks):
    user = make_user()
    topup = authenticated_but_unconfirmed(user, delivered_webhooks)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        topup.refresh_from_db()
        if topup.status == TopUp.Status.SUCCEEDED:
            break
        time.sleep(0.2)
    assert topup.status == TopUp.Status.SUCCEEDED
    assert StripeEvent.objects.filter(type="payment_intent.succeeded", processed_at__isnull=False).exists()
    assert WalletTransaction.objects.filter(type=TxType.TOP_UP, user=user).count() == 1


# --- review fixes: payload scrubbing, charge read from Stripe, refund status events ----------------------


def test_stored_payload_has_no_client_secret_or_card_details(user, stripe_sandbox, webhook_secret, client):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    intent_id = topup.stripe_payment_intent_id
    event = intent_event(
        intent_id,
        client_secret=f"{intent_id}_secret_abc",
        latest_charge={"id": "ch_1", "billing_details": {"name": "A"}, "payment_method_details": {"card": {}}},
        charges={"data": [{"client_secret": "nested", "keep": 1}, [{"client_secret": "deeper"}]]},
    )
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(pk=event["id"])
    text = json.dumps(stored.payload)
    for word in ("client_secret", "_secret_abc", "billing_details", "payment_method_details", "nested", "deeper"):
        assert word not in text
    obj = stored.payload["data"]["object"]
    assert obj["id"] == intent_id and obj["latest_charge"] == {"id": "ch_1"}
    assert obj["charges"] == {"data": [{"keep": 1}, [{}]]}
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")  # processing still had the whole event


def test_charge_refunded_amounts_are_read_from_stripe(user, stripe_sandbox, webhook_secret, client):
    topup = _settled(user)
    charge = _dashboard_refund(stripe_sandbox, topup.stripe_payment_intent_id, 3000)
    forged = {**charge, "amount_refunded": 9000, "currency": "usd"}
    assert post_event(client, make_event("charge.refunded", forged)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("70.00")
    assert CardRefund.objects.get().amount == Decimal("30.00")


def test_charge_refunded_naming_another_intents_charge_is_ignored(user, make_user, stripe_sandbox, webhook_secret, client):
    mine, other = _settled(user), _settled(make_user(), amount="50.00")
    charge = _dashboard_refund(stripe_sandbox, other.stripe_payment_intent_id, 5000)
    forged = {**charge, "payment_intent": mine.stripe_payment_intent_id}
    assert post_event(client, make_event("charge.refunded", forged)).status_code == 200
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00") and not CardRefund.objects.filter(topup=mine).exists()


@pytest.mark.parametrize("event_type", ["charge.refund.updated", "refund.updated", "refund.failed"])
def test_refund_that_fails_after_success_is_reversed_once(event_type, user, make_user, stripe_sandbox, webhook_secret, client, monkeypatch):
    staff = make_user(is_staff=True)
    refund = services.refund_topup(topup=_settled(user), amount="40.00", reason="r", staff=staff)
    assert refund.status == CardRefund.Status.SUCCEEDED
    # The body says nothing trustworthy; Stripe (read back) says the refund failed.
    monkeypatch.setattr(
        payments, "retrieve_refund", lambda rid: payments.Refund(id=rid, status="failed", amount=4000)
    )
    body = {"id": refund.stripe_refund_id, "object": "refund", "status": "succeeded"}
    assert post_event(client, make_event(event_type, body)).status_code == 200
    assert post_event(client, make_event(event_type, body)).status_code == 200  # another delivery
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.FAILED and refund.reversal_transaction.amount == Decimal("40.00")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00")
    assert WalletTransaction.objects.filter(type=TxType.CARD_REFUND).count() == 1
    assert WalletTransaction.objects.filter(type=TxType.CARD_REFUND_REVERSAL).count() == 1


def test_refund_event_finishes_a_pending_refund_and_ignores_others(user, make_user, stripe_sandbox, webhook_secret, client, monkeypatch):
    staff = make_user(is_staff=True)
    topup = _settled(user)
    real_create = payments.create_refund

    def pending(**kwargs):
        made = real_create(**kwargs)
        return payments.Refund(id=made.id, status="pending", amount=made.amount)

    monkeypatch.setattr(payments, "create_refund", pending)
    refund = services.refund_topup(topup=topup, amount="40.00", reason="r", staff=staff)
    assert refund.status == CardRefund.Status.PENDING
    # localstripe reports it succeeded when read back.
    body = {"id": refund.stripe_refund_id, "object": "refund", "status": "failed"}
    assert post_event(client, make_event("refund.updated", body)).status_code == 200
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.SUCCEEDED
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("60.00")
    for other in ({"id": "re_not_ours"}, {"id": 5}, {}):
        assert post_event(client, make_event("refund.failed", other)).status_code == 200
    assert CardRefund.objects.get().status == CardRefund.Status.SUCCEEDED
