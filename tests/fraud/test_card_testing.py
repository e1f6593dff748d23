"""Card-testing defence on top-ups (issue 20, item 3): decline limits per account, address and card,
the new-account cap, and verified emails; every refusal comes before anything is created at Stripe."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.helpers import create_topup, post_json
from wallet import payments, services
from wallet.exceptions import NewAccountLimitReached, PaymentDeclined, TooManyDeclines
from wallet.models import TopUp

pytestmark = pytest.mark.django_db

DECLINED_CARD = "4000000000000341"
CONFIRM = "/wallet/confirm-payment/"


@pytest.fixture
def stripe_calls(monkeypatch):
    """Every PaymentIntent the app asks Stripe to create (the real call still happens)."""
    calls = []
    real = payments.create_and_confirm_intent

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(payments, "create_and_confirm_intent", spy)
    return calls


def _declined_attempt(client, sandbox):
    return create_topup(client, amount="10.00", pm=sandbox.card(DECLINED_CARD), key=uuid.uuid4().hex)


def test_declines_past_the_account_limit_refuse_the_next_attempt_before_stripe(
    auth_client, user, stripe_sandbox, stripe_calls
):
    for _ in range(5):  # TOPUP_DECLINE_LIMIT's default: 5 declines an hour
        assert _declined_attempt(auth_client, stripe_sandbox).status_code == 402
    assert len(stripe_calls) == 5
    for _ in range(2):  # the 6th and the 7th: refused, Stripe never asked
        resp = _declined_attempt(auth_client, stripe_sandbox)
        assert resp.status_code == 429
        body = resp.json()
        assert body["code"] == "too_many_declines"
        assert "Try again in" in body["error"] and "Nothing was charged" in body["error"]
        assert 0 < int(resp["Retry-After"]) <= 3600 and body["retry_after"] == int(resp["Retry-After"])
    assert len(stripe_calls) == 5
    assert TopUp.objects.filter(user=user).count() == 5  # nothing recorded for a refused attempt
    # A good card is refused too: the account is paused, not the card.
    assert create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="good").status_code == 429
    assert len(stripe_calls) == 5


def test_six_declines_in_an_hour_refuse_the_seventh(auth_client, user, stripe_sandbox, stripe_calls):
    for _ in range(6):
        services.record_decline(user_id=user.pk, client_ip="198.51.100.7")
    resp = create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="seventh")
    assert resp.status_code == 429 and resp["Retry-After"]
    assert stripe_calls == [] and not TopUp.objects.exists()


def test_the_window_ends_and_top_ups_work_again(auth_client, user, stripe_sandbox, settings):
    settings.TOPUP_DECLINE_LIMIT = services.card_testing.Rate(2, 3600)
    for _ in range(2):
        _declined_attempt(auth_client, stripe_sandbox)
    assert create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="a").status_code == 429
    from django.core.cache import cache

    cache.clear()  # the fixed window ended
    assert create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="b").status_code == 200


def test_declines_from_one_address_pause_every_account_there(client, make_user, stripe_sandbox, settings,
                                                              stripe_calls):
    settings.TOPUP_DECLINE_IP_LIMIT = services.card_testing.Rate(3, 3600)
    for _ in range(3):  # three fresh accounts, one decline each, one address
        client.force_login(make_user())
        assert _declined_attempt(client, stripe_sandbox).status_code == 402
    client.force_login(make_user())
    resp = _declined_attempt(client, stripe_sandbox)
    assert resp.status_code == 429 and "your network" in resp.json()["error"]
    assert len(stripe_calls) == 3
    # Another address is not affected.
    other = post_json(client, "/wallet/create-payment-intent/", {
        "amount": "10.00", "payment_method_id": stripe_sandbox.card(), "idempotency_key": "x"},
        REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_a_failed_three_d_secure_counts_as_a_decline_once(auth_client, user, stripe_sandbox, settings):
    settings.TOPUP_DECLINE_LIMIT = services.card_testing.Rate(2, 3600)
    resp = create_topup(auth_client, amount="25.00", pm=stripe_sandbox.card("4000002500003155"), key="3ds")
    body = resp.json()
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=False)
    for _ in range(3):  # the page may ask again: still one decline
        assert post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]}).status_code == 402
    assert create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="ok").status_code == 200
    _declined_attempt(auth_client, stripe_sandbox)  # the second decline reaches the limit
    assert create_topup(auth_client, amount="10.00", pm=stripe_sandbox.card(), key="no").status_code == 429


def test_declines_of_one_card_fingerprint_are_capped_across_accounts(make_user, settings):
    settings.TOPUP_DECLINE_CARD_LIMIT = services.card_testing.Rate(2, 86400)
    first, second = make_user(), make_user()
    services.record_decline(user_id=first.pk, client_ip="198.51.100.1", fingerprint="fp_stolen")
    services.record_decline(user_id=second.pk, client_ip="198.51.100.2", fingerprint="fp_stolen")
    with pytest.raises(TooManyDeclines):
        services.card_testing.check_topup_allowed(user=make_user(), amount=Decimal("10.00"),
                                                  client_ip="198.51.100.3", fingerprint="fp_stolen")
    # Another card from the same places is fine.
    services.card_testing.check_topup_allowed(user=make_user(), amount=Decimal("10.00"),
                                              client_ip="198.51.100.3", fingerprint="fp_other")


def test_a_stripe_decline_carries_the_card_fingerprint_into_the_count(monkeypatch, user, settings):
    settings.TOPUP_DECLINE_CARD_LIMIT = services.card_testing.Rate(1, 86400)

    def declined(**kw):
        raise PaymentDeclined("Your card was declined.", card_fingerprint="fp_from_stripe")

    monkeypatch.setattr(payments, "create_and_confirm_intent", declined)
    monkeypatch.setattr(payments, "card_fingerprint", lambda pm: "")  # known only from the decline
    with pytest.raises(PaymentDeclined):
        services.start_topup(user=user, amount="10.00", payment_method_id="pm_x", idempotency_key="k1")
    with pytest.raises(TooManyDeclines):
        services.card_testing.check_topup_allowed(user=user, amount=Decimal("10.00"), fingerprint="fp_from_stripe")


def test_a_card_declined_too_often_is_refused_before_its_intent(client, make_user, stripe_sandbox, settings,
                                                                monkeypatch, stripe_calls):
    """Declines are capped per card fingerprint across accounts and addresses (read from Stripe first)."""
    settings.TOPUP_DECLINE_CARD_LIMIT = services.card_testing.Rate(2, 86400)
    monkeypatch.setattr(payments, "card_fingerprint", lambda pm: "fp_same_card")
    for n in range(2):
        client.force_login(make_user())
        resp = post_json(client, "/wallet/create-payment-intent/", {
            "amount": "10.00", "payment_method_id": stripe_sandbox.card(DECLINED_CARD), "idempotency_key": "k"},
            REMOTE_ADDR=f"198.51.100.{n}")
        assert resp.status_code == 402
    client.force_login(make_user())
    resp = post_json(client, "/wallet/create-payment-intent/", {
        "amount": "10.00", "payment_method_id": stripe_sandbox.card(DECLINED_CARD), "idempotency_key": "k"},
        REMOTE_ADDR="198.51.100.99")
    assert resp.status_code == 429 and "this card" in resp.json()["error"]
    assert len(stripe_calls) == 2


def test_limits_can_be_switched_off(auth_client, user, stripe_sandbox, settings):
    settings.TOPUP_DECLINE_LIMIT = settings.TOPUP_DECLINE_IP_LIMIT = None
    for _ in range(7):
        assert _declined_attempt(auth_client, stripe_sandbox).status_code == 402


# --- the new-account cap ---------------------------------------------------------------------------


def test_a_new_account_tops_up_at_most_the_first_day_limit(client, make_user, stripe_sandbox, stripe_calls):
    fresh = make_user(new_account=True)
    client.force_login(fresh)
    assert create_topup(client, amount="400.00", pm=stripe_sandbox.card(), key="one").status_code == 200
    resp = create_topup(client, amount="150.00", pm=stripe_sandbox.card(), key="two")
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == "new_account_limit"
    assert "500.00" in body["error"] and "100.00" in body["error"] and "from " in body["error"]
    assert int(resp["Retry-After"]) > 0
    assert len(stripe_calls) == 1
    # What is left still goes through.
    assert create_topup(client, amount="100.00", pm=stripe_sandbox.card(), key="three").status_code == 200
    # The replay of a top-up that already succeeded is answered, not refused by its own total.
    assert create_topup(client, amount="100.00", pm=stripe_sandbox.card(), key="three").status_code == 200


def test_failed_top_ups_do_not_use_the_new_account_allowance(make_user):
    fresh = make_user(new_account=True)
    TopUp.objects.create(user=fresh, amount=Decimal("500.00"), currency="AED", idempotency_key="f",
                         status=TopUp.Status.FAILED)
    services.card_testing.check_topup_allowed(user=fresh, amount=Decimal("500.00"))
    with pytest.raises(NewAccountLimitReached):
        services.card_testing.check_topup_allowed(user=fresh, amount=Decimal("500.01"))


def test_after_its_first_day_the_cap_is_gone(make_user):
    fresh = make_user(new_account=True)
    type(fresh).objects.filter(pk=fresh.pk).update(date_joined=timezone.now() - timedelta(days=1, seconds=1))
    fresh.refresh_from_db()
    services.card_testing.check_topup_allowed(user=fresh, amount=Decimal("5000.00"))


def test_the_new_account_cap_can_be_switched_off(make_user, settings):
    settings.NEW_ACCOUNT_TOPUP_LIMIT = None
    services.card_testing.check_topup_allowed(user=make_user(new_account=True), amount=Decimal("5000.00"))
