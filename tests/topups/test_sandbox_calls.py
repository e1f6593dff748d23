"""What a sandbox top-up asks of Stripe (bench row 5): one create-and-confirm for an ordinary card.

The fingerprint is read before the charge only while some card has declines counted (card_testing
CARDS_DECLINED), and the sandbox's dispute/fraud-warning check reads nothing back when the
payment's answer already names an ordinary card.
"""

import uuid

import pytest
import stripe

from tests.helpers import create_topup
from wallet import payments, services
from wallet.payments import sandbox, sandbox_disputes
from wallet.payments import stripe as stripe_backend

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch):
    """The name of every call the app makes to Stripe (localstripe), in order."""
    seen = []
    real = stripe_backend._call

    def spy(action, fn, **kw):
        seen.append(action)
        return real(action, fn, **kw)

    for module in (stripe_backend, sandbox, sandbox_disputes):
        monkeypatch.setattr(module, "_call", spy)
    return seen


def test_an_ordinary_card_top_up_is_one_call(auth_client, user, stripe_sandbox, calls, settings):
    assert settings.TOPUP_DECLINE_CARD_LIMIT is not None  # on, as by default
    resp = create_topup(auth_client, amount="25.00", pm="pm_card_visa", key=uuid.uuid4().hex)
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "succeeded"
    assert calls == ["create_intent"]
    user.refresh_from_db()
    assert str(user.wallet_balance) == "25.00"


def test_after_a_card_decline_the_next_top_up_reads_its_card_first(
    auth_client, user, stripe_sandbox, calls, monkeypatch
):
    read = []

    def fingerprint(pm):
        read.append(pm)
        return "fp_card_under_watch"

    monkeypatch.setattr(payments, "card_fingerprint", fingerprint)
    services.record_decline(user_id=user.pk, client_ip="198.51.100.7", fingerprint="fp_another_card")
    resp = create_topup(auth_client, amount="25.00", pm="pm_card_visa", key=uuid.uuid4().hex)
    assert resp.status_code == 200, resp.content
    assert read == ["pm_card_visa"]


def test_a_decline_without_a_fingerprint_reads_the_card_to_count_it(
    auth_client, user, stripe_sandbox, monkeypatch, settings
):
    """No card had declines, so none was read before the charge; the decline reads it to count it,
    and from then on that card is checked before its charge."""
    settings.TOPUP_DECLINE_CARD_LIMIT = services.card_testing.Rate(1, 86400)
    settings.TOPUP_DECLINE_LIMIT = None
    read = []
    monkeypatch.setattr(payments, "card_fingerprint", lambda pm: read.append(pm) or "fp_tested_card")
    declined = stripe_sandbox.card("4000000000000341")
    assert create_topup(auth_client, amount="10.00", pm=declined, key=uuid.uuid4().hex).status_code == 402
    assert read == [declined]
    resp = create_topup(auth_client, amount="10.00", pm=declined, key=uuid.uuid4().hex)
    assert resp.status_code == 429
    assert read == [declined, declined]


def test_the_dispute_test_card_still_opens_a_dispute(auth_client, user, stripe_sandbox, calls, monkeypatch):
    announced = []
    monkeypatch.setattr(sandbox_disputes, "announce", lambda kind, body: announced.append(kind))
    resp = create_topup(auth_client, amount="25.00", pm=stripe_sandbox.card("4000000000000259"),
                        key=uuid.uuid4().hex)
    assert resp.status_code == 200, resp.content
    assert announced == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]


@pytest.mark.parametrize(
    "charge, last4",
    [
        ({"id": "ch_1", "object": "charge", "payment_method_details": {"type": "card", "card": {"last4": "4242"}}},
         "4242"),
        ({"id": "ch_1", "object": "charge", "payment_method": {"id": "pm_1", "object": "payment_method",
                                                              "card": {"last4": "0259"}}}, "0259"),
        ({"id": "ch_1", "object": "charge", "payment_method": "pm_1"}, ""),
        ("ch_1", ""),
        (None, ""),
    ],
)
def test_the_intent_names_its_card_when_the_answer_carries_it(charge, last4):
    obj = stripe.PaymentIntent.construct_from(
        {"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 100, "currency": "aed",
         "latest_charge": charge},
        "sk_test_x",
    )
    assert stripe_backend._intent(obj).card_last4 == last4
