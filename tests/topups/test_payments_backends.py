"""The gateway is the only Stripe boundary: our enums, the transaction guard on every call, our exceptions."""

import ast
import pathlib
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from wallet import payments, reconcile, services
from wallet.exceptions import PaymentMethodRejected, PaymentProviderUnavailable
from wallet.models import TopUp
from wallet.payments import IntentStatus, RefundStatus
from wallet.payments.sandbox import SandboxBackend
from wallet.payments.stripe import StripeBackend

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_nothing_but_the_gateway_imports_stripe():
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "tests/", "bench/")) or rel == "wallet/payments/stripe.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "stripe" or name.startswith("stripe.") for name in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


# Every function that talks to Stripe, with arguments that would reach the network.
NETWORK_CALLS = {
    "create_and_confirm_intent": lambda: payments.create_and_confirm_intent(
        amount_minor=1000, currency="aed", payment_method="pm_card_visa", metadata={}, idempotency_key="k"
    ),
    "retrieve_intent": lambda: payments.retrieve_intent("pi_1"),
    "cancel_intent": lambda: payments.cancel_intent("pi_1"),
    "cancel_or_retrieve": lambda: payments.cancel_or_retrieve("pi_1"),
    "list_recent_intents": lambda: payments.list_recent_intents(limit=3),
    "search_intents_by_metadata": lambda: payments.search_intents_by_metadata("topup_id", "x"),
    "create_refund": lambda: payments.create_refund(
        payment_intent_id="pi_1", amount_minor=100, idempotency_key="k", metadata={}
    ),
    "retrieve_refund": lambda: payments.retrieve_refund("re_1"),
    "retrieve_charge": lambda: payments.retrieve_charge("ch_1"),
    "create_customer": lambda: payments.create_customer(email="a@example.com", user_id=1, idempotency_key="k"),
    "attach_payment_method": lambda: payments.attach_payment_method(payment_method="pm_1", customer="cus_1"),
    "prepare_card_for_saving": lambda: payments.prepare_card_for_saving(customer="cus_1", payment_method="pm_1"),
    "save_card_after_payment": lambda: payments.save_card_after_payment(customer="cus_1", payment_method="pm_1"),
    "list_saved_cards": lambda: payments.list_saved_cards(customer="cus_1"),
    "detach_payment_method": lambda: payments.detach_payment_method(payment_method="pm_1"),
    "card_fingerprint": lambda: payments.card_fingerprint("pm_1"),
    "charge_saved_card": lambda: payments.charge_saved_card(
        amount_minor=1000, currency="aed", customer="cus_1", payment_method="pm_1", metadata={}, idempotency_key="k"
    ),
    # Issue 20: disputes, evidence, early fraud warnings.
    "retrieve_dispute": lambda: payments.retrieve_dispute("dp_1"),
    "list_recent_disputes": lambda: payments.list_recent_disputes(limit=3),
    "submit_dispute_evidence": lambda: payments.submit_dispute_evidence("dp_1", evidence={"receipt": "x"}),
    "retrieve_fraud_warning": lambda: payments.retrieve_fraud_warning("issfr_1"),
    "list_recent_fraud_warnings": lambda: payments.list_recent_fraud_warnings(limit=3),
}


def test_every_network_function_is_listed():
    """A new gateway function must be added above (and so gets the guard test below)."""
    public = {
        name for name, value in vars(payments).items()
        if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == payments.__name__
        and not isinstance(value, type)
    }
    local = {"to_minor", "from_minor", "reset_client", "assert_no_transaction", "construct_event", "backend",
             "browser_config", "lost_intent_finder"}
    assert public - local == set(NETWORK_CALLS)


@pytest.fixture
def unreachable_stripe(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    settings.STRIPE_SECRET_KEY = "sk_test_unreachable"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2
    payments.reset_client()
    yield
    payments.reset_client()


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(NETWORK_CALLS))
def test_no_stripe_call_inside_a_transaction(name, unreachable_stripe):
    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a database transaction"):
        NETWORK_CALLS[name]()
    # Outside a transaction the same call goes out (and finds nobody listening).
    with pytest.raises(PaymentProviderUnavailable, match="could not be reached"):
        NETWORK_CALLS[name]()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("succeeded", IntentStatus.SUCCEEDED), ("requires_action", IntentStatus.REQUIRES_ACTION),
     ("something_new", IntentStatus.UNKNOWN), (None, IntentStatus.UNKNOWN)],
)
def test_intent_status_is_our_enum(raw, expected):
    assert IntentStatus.from_stripe(raw) is expected


def test_refund_status_is_our_enum():
    assert RefundStatus.from_stripe("succeeded") is RefundStatus.SUCCEEDED
    assert RefundStatus.from_stripe("reversed_somehow") is RefundStatus.UNKNOWN


@pytest.mark.django_db
def test_gateway_answers_carry_the_enum(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="10.00", payment_method_id=stripe_sandbox.card(), idempotency_key="enum"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    assert intent.status is IntentStatus.SUCCEEDED
    refund = services.refund_topup(topup=result.topup, amount="1.00", reason="r", staff=None)
    assert payments.retrieve_refund(refund.stripe_refund_id).status is RefundStatus.SUCCEEDED


@pytest.mark.django_db
def test_an_unknown_intent_status_is_never_credited(user):
    topup = TopUp.objects.create(
        user=user, amount=Decimal("10.00"), currency="AED", idempotency_key="u", stripe_payment_intent_id="pi_new"
    )
    intent = payments.Intent(id="pi_new", status=IntentStatus.UNKNOWN, amount=1000, currency="aed")
    result = services.settle_topup(intent=intent)
    assert not result.credited_now and result.topup.status == TopUp.Status.PENDING
    topup.refresh_from_db()
    assert topup.credit_transaction is None


@pytest.mark.django_db
def test_a_payment_method_stripe_does_not_know_is_rejected_as_such(user, stripe_sandbox):
    with pytest.raises(PaymentMethodRejected, match="refused the payment method"):
        services.start_topup(user=user, amount="10.00", payment_method_id="pm_zz_nope", idempotency_key="pm")
    assert TopUp.objects.get().status == TopUp.Status.FAILED


@pytest.mark.django_db
def test_requires_action_carries_the_client_secret_without_a_second_call(auth_client, stripe_sandbox, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a second Stripe call")

    monkeypatch.setattr(payments, "retrieve_intent", forbidden)
    resp = auth_client.post(
        "/wallet/create-payment-intent/",
        {"amount": "25.00", "payment_method_id": stripe_sandbox.card("4000002500003155"), "idempotency_key": "3ds"},
        content_type="application/json",
    )
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "requires_action"
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret")


# --- reconciliation finds a lost intent by search on real Stripe, by listing in the sandbox -------------


@pytest.mark.django_db
def test_reconcile_searches_for_a_lost_intent_outside_the_sandbox(user, settings, monkeypatch):
    settings.PAYMENTS_BACKEND = "wallet.payments.stripe.StripeBackend"
    topup = TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="lost")
    found = payments.Intent(
        id="pi_found", status=IntentStatus.SUCCEEDED, amount=2000, currency="aed", amount_received=2000,
        metadata={"topup_id": str(topup.id), "user_id": str(user.pk)},
    )
    searched = []

    def search(key, value, **kwargs):
        searched.append((key, value))
        return [found]

    def no_listing(**kwargs):
        raise AssertionError("real Stripe: search, not a scan of recent intents")

    monkeypatch.setattr(payments, "search_intents_by_metadata", search)
    monkeypatch.setattr(payments, "list_recent_intents", no_listing)
    monkeypatch.setattr(payments, "retrieve_intent", lambda intent_id: found)
    report = reconcile.reconcile_topups(older_than=timedelta(0))
    assert searched == [("topup_id", str(topup.id))]
    assert report.credited == 1
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED and topup.stripe_payment_intent_id == "pi_found"


@pytest.mark.django_db
def test_reconcile_fails_an_old_topup_search_cannot_find(user, settings, monkeypatch):
    settings.PAYMENTS_BACKEND = "wallet.payments.stripe.StripeBackend"
    settings.TOPUP_UNSTARTED_AFTER = timedelta(0)
    topup = TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key=uuid.uuid4().hex)
    monkeypatch.setattr(payments, "search_intents_by_metadata", lambda key, value, **kw: [])
    reconcile.reconcile_topups(older_than=timedelta(0))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED


@pytest.mark.parametrize("value", ["x' OR metadata['a']:'b", "", "a" * 101, "id with space"])
def test_search_refuses_values_that_are_not_ids(value):
    with pytest.raises(ValueError, match="search keys and values are ids"):
        payments.search_intents_by_metadata("topup_id", value)


# --- the backends: the sandbox (localstripe) is chosen in settings and differs only where it must ----------


def test_flows_against_localstripe_run_the_sandbox_backend(stripe_sandbox):
    assert isinstance(payments.backend(), SandboxBackend)
    config = payments.browser_config()
    assert config.sandbox and config.js_url == stripe_sandbox.url.rstrip("/") + "/js.stripe.com/v3/"
    assert config.csp_origins == (stripe_sandbox.url.rstrip("/"),) and config.test_cards


def test_the_backend_follows_the_setting(settings):
    settings.PAYMENTS_BACKEND = "wallet.payments.stripe.StripeBackend"
    assert type(payments.backend()) is StripeBackend and payments.browser_config().sandbox is False
    settings.PAYMENTS_BACKEND = "wallet.payments.sandbox.SandboxBackend"
    assert type(payments.backend()) is SandboxBackend


def test_only_real_stripe_gets_the_parameters_localstripe_rejects():
    real = StripeBackend().intent_params(customer="cus_1", save_card=True)
    assert real == {"use_stripe_sdk": True, "setup_future_usage": "off_session"}
    # The sandbox asks only for the charge's payment method expanded (Intent.card_last4).
    assert SandboxBackend().intent_params(customer="cus_1", save_card=True) == {
        "expand": ["latest_charge.payment_method"]
    }


@pytest.mark.django_db
def test_the_sandbox_saves_a_token_card_in_the_customer_metadata(user, stripe_sandbox):
    customer = services.billing.ensure_customer(user=user)
    card = stripe_sandbox.card()
    assert card.startswith("card_")  # localstripe's Stripe.js token card: it cannot be attached
    payments.prepare_card_for_saving(customer=customer, payment_method=card)
    assert payments.list_saved_cards(customer=customer) == []  # saved only once the payment succeeded
    payments.save_card_after_payment(customer=customer, payment_method=card)
    assert [c.id for c in payments.list_saved_cards(customer=customer)] == [card]
    payments.detach_payment_method(payment_method=card, customer=customer)
    assert payments.list_saved_cards(customer=customer) == []


@pytest.mark.django_db
def test_cancel_or_retrieve_reads_back_an_intent_that_moved_on(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="10.00", payment_method_id=stripe_sandbox.card(), idempotency_key="moved-on"
    )
    intent = payments.cancel_or_retrieve(result.topup.stripe_payment_intent_id)  # succeeded: not cancelable
    assert intent.status is IntentStatus.SUCCEEDED
