"""Every gateway function of the real-Stripe backend (wallet.payments.stripe) against stripe-mock: what we send must pass Stripe's own request validation,
and what we read (`_intent`, `_refund`, the Charge) must come out right from full, real-shaped objects.

stripe-mock keeps no state: a created intent comes back in its fixture status, and metadata is not
echoed. So these tests check shapes and parameters; the flows are tested against localstripe.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe

from wallet import payments, reconcile, services
from wallet.exceptions import PaymentMethodRejected, PaymentProviderError
from wallet.models import TopUp
from wallet.payments import IntentStatus, RefundStatus
from wallet.payments.sandbox import SandboxBackend
from wallet.payments.stripe import StripeBackend

pytestmark = pytest.mark.usefixtures("stripe_mock")


def _raw_intent(intent_id: str) -> dict:
    """The PaymentIntent as stripe-mock sends it, read past the gateway (to compare with its parse).

    stripe-mock is stateless: a retrieve answers the same fixture every time, so the gateway's
    retrieve and this raw one can be compared field by field."""
    return payments.stripe_backend._client().v1.payment_intents.retrieve(intent_id).to_dict()


def _assert_parsed(intent: payments.Intent, raw: dict) -> None:
    assert intent.id == raw["id"] and intent.id.startswith("pi_")
    assert isinstance(intent.status, IntentStatus) and intent.status is not IntentStatus.UNKNOWN
    assert intent.status == raw["status"]
    assert intent.amount == raw["amount"] and isinstance(intent.amount, int)
    assert intent.currency == raw["currency"].lower()
    assert intent.amount_received == raw["amount_received"] and isinstance(intent.amount_received, int)
    assert intent.client_secret == raw["client_secret"] and intent.client_secret.startswith("pi_")
    assert intent.metadata == raw["metadata"]
    assert intent.last_error_message == ""  # no last_payment_error in the fixture
    assert intent.next_action_type == ""


def test_the_contract_covers_the_real_stripe_backend():
    backend = payments.backend()
    assert isinstance(backend, StripeBackend) and not isinstance(backend, SandboxBackend)
    assert payments.browser_config().sandbox is False


def test_create_and_confirm_sends_what_real_stripe_accepts():
    """Outside the sandbox, with use_stripe_sdk and the idempotency key, exactly as production sends it."""
    intent = payments.create_and_confirm_intent(
        amount_minor=12_345,
        currency="AED",
        payment_method="pm_card_visa",
        metadata={"topup_id": str(uuid.uuid4()), "user_id": "7"},
        idempotency_key=f"topup-{uuid.uuid4()}",
    )
    # stripe-mock echoes amount and currency; the rest is its fixture, parsed into our types.
    assert intent.amount == 12_345 and intent.currency == "aed"
    assert intent.id.startswith("pi_") and intent.status is IntentStatus.REQUIRES_PAYMENT_METHOD
    assert intent.amount_received == 0 and intent.amount_collected == 0
    assert intent.client_secret.startswith("pi_") and "_secret_" in intent.client_secret
    assert "secret" not in repr(intent)  # never logged by accident


@pytest.mark.django_db
def test_start_topup_sends_a_valid_request(user):
    """The service path end to end: its metadata and idempotency key pass Stripe's validation.

    stripe-mock answers with its fixture status (requires_payment_method), so the top-up is
    recorded as not completed: a real answer parsed and settled the ordinary way.
    """
    result = services.start_topup(
        user=user, amount="25.50", payment_method_id="pm_card_visa", idempotency_key="contract"
    )
    assert result.topup.stripe_payment_intent_id.startswith("pi_")
    assert result.topup.status == TopUp.Status.FAILED and not result.credited_now


def test_retrieve_cancel_and_list_parse_full_objects():
    intent = payments.create_and_confirm_intent(
        amount_minor=500, currency="aed", payment_method="pm_card_visa", metadata={}, idempotency_key="k1"
    )
    raw = _raw_intent(intent.id)
    _assert_parsed(payments.retrieve_intent(intent.id), raw)
    canceled = payments.cancel_intent(intent.id)
    assert canceled.id.startswith("pi_") and isinstance(canceled.status, IntentStatus)
    listed = payments.list_recent_intents(limit=reconcile.RECENT_INTENTS)
    assert listed and all(isinstance(i, payments.Intent) and i.id.startswith("pi_") for i in listed)


def test_search_by_topup_metadata_is_a_valid_query():
    found = payments.search_intents_by_metadata("topup_id", str(uuid.uuid4()))
    assert all(isinstance(i, payments.Intent) and isinstance(i.status, IntentStatus) for i in found)


def test_refund_create_and_retrieve():
    refund = payments.create_refund(
        payment_intent_id="pi_123",
        amount_minor=250,
        idempotency_key=f"refund-{uuid.uuid4()}",
        metadata={"card_refund_id": "1", "topup_id": str(uuid.uuid4())},
    )
    assert refund.id.startswith("re_") and refund.amount == 250
    assert isinstance(refund.status, RefundStatus) and refund.status is not RefundStatus.UNKNOWN
    again = payments.retrieve_refund(refund.id)
    assert again.id.startswith("re_") and again.status is RefundStatus.SUCCEEDED


def test_charge_retrieve():
    charge = payments.retrieve_charge("ch_123")
    assert charge.id.startswith("ch_") and isinstance(charge.amount_refunded, int)
    assert charge.currency == charge.currency.lower() and len(charge.currency) == 3
    assert isinstance(charge.payment_intent_id, str)


@pytest.mark.django_db
def test_reconcile_looks_a_lost_intent_up_by_search(user, settings):
    """Real Stripe (not the sandbox): reconciliation asks search, which stripe-mock validates."""
    settings.TOPUP_UNSTARTED_AFTER = timedelta(hours=1)
    TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="lost")
    report = reconcile.reconcile_topups(older_than=timedelta(0))
    # stripe-mock's search returns its fixture intent, whose metadata is not this top-up's.
    assert report.errors == 0 and report.counts["waiting"] == 1
    # Its dispute and early fraud warning fixtures are on a charge that is not ours: listed, not applied.
    assert not {key for key in report.counts if key not in ("waiting", "dispute", "fraud_warning")}


# --- the check can fail: what real Stripe rejects, stripe-mock rejects -----------------------------------


def test_a_misspelled_parameter_is_rejected():
    with pytest.raises(stripe.InvalidRequestError) as info:
        payments.stripe_backend._client().v1.payment_intents.create(
            params={"amount": 1000, "currency": "aed", "paymnet_method": "pm_card_visa"}
        )
    assert info.value.http_status == 400


def test_a_wrongly_typed_parameter_is_rejected_and_translated():
    """Through the gateway's own _call: a 400 becomes our exception, never the SDK's."""
    with pytest.raises(PaymentProviderError) as info:
        payments.stripe_backend._call(
            "list_intents", lambda: payments.stripe_backend._client().v1.payment_intents.list(params={"limit": "many"})
        )
    assert isinstance(info.value.__cause__, stripe.InvalidRequestError) and info.value.__cause__.http_status == 400
    with pytest.raises(PaymentMethodRejected) as rejected:
        payments.stripe_backend._call(
            "create_intent",
            lambda: payments.stripe_backend._client().v1.payment_intents.create(
                params={"amount": 1000, "currency": "aed", "payment_method": ["not", "an", "id"]}
            ),
            client_param=True,
        )
    assert rejected.value.__cause__.http_status == 400


def test_requests_speak_the_pinned_api_version(stripe_mock_url, settings):
    """stripe-mock runs with -strict-version-check: the SDK's own newer default version is refused."""
    import os

    if os.environ.get("STRIPE_MOCK_URL"):
        pytest.skip("an external stripe-mock may not run with -strict-version-check")
    assert settings.STRIPE_API_VERSION == "2023-08-16"  # the spec stripe-mock ships (README beside it)
    unpinned = stripe.StripeClient(
        "sk_test_123", base_addresses={"api": stripe_mock_url}, max_network_retries=0
    )
    with pytest.raises(stripe.InvalidRequestError, match="Stripe-Version"):
        unpinned.v1.payment_intents.retrieve("pi_123")
    assert payments.retrieve_intent("pi_123").id.startswith("pi_")


# --- saved cards and off-session recharges (issue 14) ---------------------------------------------


def test_first_payment_saves_the_card_the_real_stripe_way():
    """Outside the sandbox a saving payment carries the customer and setup_future_usage=off_session."""
    intent = payments.create_and_confirm_intent(
        amount_minor=5_000,
        currency="AED",
        payment_method="pm_card_visa",
        metadata={"topup_id": str(uuid.uuid4()), "user_id": "7"},
        idempotency_key=f"topup-{uuid.uuid4()}",
        customer="cus_123",
        save_card=True,
    )
    assert intent.amount == 5_000 and intent.id.startswith("pi_")


def test_setup_future_usage_misspelled_is_rejected(settings):
    """The test above can fail: stripe-mock refuses a value the real API refuses."""
    params = {"amount": 100, "currency": "aed", "payment_method": "pm_card_visa", "confirm": True,
              "customer": "cus_123", "setup_future_usage": "sometimes"}
    with pytest.raises(stripe.InvalidRequestError):
        payments.stripe_backend._client().v1.payment_intents.create(params=params)


def test_customer_and_saved_card_calls_are_valid_requests():
    customer = payments.create_customer(email="a@example.com", user_id=7, idempotency_key="cust-7")
    assert customer.startswith("cus_")
    card = payments.attach_payment_method(payment_method="pm_card_visa", customer=customer)
    assert card.id.startswith("pm_") and card.last4 and card.brand and 1 <= card.exp_month <= 12
    cards = payments.list_saved_cards(customer=customer)
    assert cards and all(c.id.startswith("pm_") for c in cards)
    payments.detach_payment_method(payment_method=card.id)


def test_off_session_charge_is_a_valid_request():
    intent = payments.charge_saved_card(
        amount_minor=10_000,
        currency="AED",
        customer="cus_123",
        payment_method="pm_card_visa",
        metadata={"topup_id": str(uuid.uuid4()), "user_id": "7", "automatic": "1"},
        idempotency_key=f"topup-{uuid.uuid4()}",
    )
    assert intent.amount == 10_000 and isinstance(intent.status, IntentStatus)
