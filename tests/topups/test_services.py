"""The settlement core against a real localstripe: start_topup and settle_topup."""

from decimal import Decimal

import pytest

from wallet import payments, services
from wallet.exceptions import InvalidAmount, PaymentDeclined, TopUpMismatch
from wallet.models import TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def test_successful_card_credits_once(user, stripe_sandbox, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = services.start_topup(
            user=user, amount="100.00", payment_method_id="pm_card_visa", idempotency_key="k-1"
        )
    assert result.credited_now and result.status == TopUp.Status.SUCCEEDED
    assert result.new_balance == Decimal("100.00")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00")
    entry = WalletTransaction.objects.get(user=user)
    assert entry.type == TxType.TOP_UP and entry.stripe_payment_intent_id == result.topup.stripe_payment_intent_id
    # Settling again (webhook, reconcile, browser) is a no-op.
    again = services.settle_topup(intent=payments.retrieve_intent(entry.stripe_payment_intent_id))
    assert not again.credited_now
    assert WalletTransaction.objects.filter(user=user).count() == 1
    assert len(mailoutbox) == 1 and "100.00 AED" in mailoutbox[0].body and str(entry.id) in mailoutbox[0].body
    assert mailoutbox[0].to == ["alice@example.com"] and "Hello alice," in mailoutbox[0].body
    assert "New balance:     100.00 AED" in mailoutbox[0].body


def test_replayed_key_returns_same_topup_and_charges_once(user, stripe_sandbox):
    first = services.start_topup(user=user, amount="50", payment_method_id="pm_card_visa", idempotency_key="dup")
    second = services.start_topup(user=user, amount="50", payment_method_id="pm_card_visa", idempotency_key="dup")
    assert first.topup.pk == second.topup.pk and not second.credited_now
    assert len(stripe_sandbox.request("GET", "/v1/payment_intents?limit=10")["data"]) == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("50.00")


def test_three_d_secure_then_settle(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="3ds"
    )
    assert result.status == TopUp.Status.REQUIRES_ACTION
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=True)
    settled = services.settle_topup(intent=payments.retrieve_intent(intent.id), user=user)
    assert settled.credited_now and settled.new_balance == Decimal("25.00")


def test_three_d_secure_failed_marks_failed(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="3dsf"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=False)
    settled = services.settle_topup(intent=payments.retrieve_intent(intent.id), user=user)
    assert settled.status == TopUp.Status.FAILED and not settled.credited_now
    user.refresh_from_db()
    assert user.wallet_balance == 0 and not WalletTransaction.objects.exists()


def test_declined_card_marks_failed_and_credits_nothing(user, stripe_sandbox):
    with pytest.raises(PaymentDeclined) as info:
        services.start_topup(
            user=user, amount="10.00", payment_method_id=stripe_sandbox.card("4000000000000341"), idempotency_key="d"
        )
    assert info.value.user_message == "Your card was declined. Nothing was charged."
    topup = TopUp.objects.get(user=user)
    assert topup.status == TopUp.Status.FAILED and topup.failure_reason == "Your card was declined. Nothing was charged."
    assert not WalletTransaction.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [("1.99", "Enter an amount between"), ("10000.01", "Enter an amount between"), ("0", "Enter an amount between"),
     ("-5", "Enter an amount like"), ("1.234", "Enter an amount like"), (1.5, "never float")],
)
def test_out_of_range_amounts_rejected_before_any_record(user, amount, message):
    with pytest.raises(InvalidAmount, match=message):
        services.start_topup(user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key="x")
    assert not TopUp.objects.exists()


def test_amount_mismatch_is_refused(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="30.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="m"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    forged = payments.Intent(id=intent.id, status="succeeded", amount=300000, currency="aed")
    with pytest.raises(TopUpMismatch, match="does not match this top-up"):
        services.settle_topup(intent=forged)
    forged = payments.Intent(id=intent.id, status="succeeded", amount=3000, currency="usd")
    with pytest.raises(TopUpMismatch, match="does not match this top-up"):
        services.settle_topup(intent=forged)
    assert not WalletTransaction.objects.exists()


def test_other_users_intent_is_not_found(user, make_user, stripe_sandbox):
    result = services.start_topup(user=user, amount="30.00", payment_method_id="pm_card_visa", idempotency_key="o")
    intruder = make_user()
    with pytest.raises(TopUp.DoesNotExist):
        services.settle_topup(intent=payments.retrieve_intent(result.topup.stripe_payment_intent_id), user=intruder)


def test_stripe_is_never_called_inside_a_transaction(user, stripe_sandbox):
    from django.db import transaction

    with pytest.raises(RuntimeError, match="inside a database transaction"), transaction.atomic():
        services.start_topup(user=user, amount="10", payment_method_id="pm_card_visa", idempotency_key="tx")


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_settles_credit_once(make_user, stripe_sandbox):
    from tests.concurrency import run_concurrently

    user = make_user()
    result = services.start_topup(
        user=user, amount="40.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="race"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=True)
    succeeded = payments.retrieve_intent(intent.id)

    results = run_concurrently(lambda i: services.settle_topup(intent=succeeded), 20)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.credited_now for r in results) == 1
    assert WalletTransaction.objects.filter(stripe_payment_intent_id=intent.id).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")


def test_only_card_error_messages_are_kept_for_customers():
    import stripe

    def intent(error):
        return payments.stripe_backend._intent(stripe.PaymentIntent.construct_from(
            {"id": "pi_1", "status": "requires_payment_method", "amount": 100, "currency": "aed",
             "last_payment_error": error}, "sk_test"))

    assert intent({"type": "card_error", "message": "Your card has insufficient funds."}).last_error_message == (
        "Your card has insufficient funds.")
    assert intent({"type": "invalid_request_error", "message": "No such PaymentMethod: 'pm_x'"}).last_error_message == ""
    assert intent(None).last_error_message == ""
    assert intent({"type": "invalid_request_error", "code": "payment_intent_authentication_failure",
                   "message": "The provided PaymentMethod has failed authentication."}
                  ).last_error_message == "Card authentication failed."


# --- a top-up left at 3-D Secure: the services finish or cancel it (views only call them) ----------------


def test_cancel_topup_cancels_at_stripe_and_records_it(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="c"
    )
    canceled = services.cancel_topup(user=user, intent_id=result.topup.stripe_payment_intent_id)
    assert canceled.status == TopUp.Status.CANCELED and not canceled.credited_now
    assert payments.retrieve_intent(result.topup.stripe_payment_intent_id).status == payments.IntentStatus.CANCELED


def test_cancel_topup_after_the_cardholder_finished_credits_instead(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="f"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=True)  # in another tab
    settled = services.cancel_topup(user=user, intent_id=intent.id)
    assert settled.credited_now and settled.new_balance == Decimal("25.00")


def test_finish_and_cancel_never_ask_stripe_about_another_users_topup(user, make_user, stripe_sandbox, monkeypatch):
    result = services.start_topup(
        user=user, amount="25.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="o"
    )
    other = make_user()

    def forbidden(*args, **kwargs):
        raise AssertionError("Stripe asked about another user's top-up")

    for name in ("cancel_intent", "retrieve_intent"):
        monkeypatch.setattr(payments, name, forbidden)
    for service in (services.cancel_topup, services.finish_topup):
        with pytest.raises(TopUp.DoesNotExist):
            service(user=other, intent_id=result.topup.stripe_payment_intent_id)
    assert TopUp.objects.get(pk=result.topup.pk).status == TopUp.Status.REQUIRES_ACTION
