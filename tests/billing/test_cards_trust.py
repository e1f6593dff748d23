"""Issue 18, items 4, 5 and 10: saved cards without Stripe calls per page view, saved only once paid and
never on two customers, and a card for automatic top-ups that changes only when the person says so."""

from __future__ import annotations

import json
import uuid

import pytest

from netcop_hub.config import parse_rate
from wallet import payments, services
from wallet.models import BillingSettings, TopUp
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)
SETTINGS = "/wallet/settings/"
DECLINED = "4000000000000341"


def create(client, pm, *, save_card=True, amount="60.00"):
    body = {"amount": amount, "payment_method_id": pm, "idempotency_key": str(uuid.uuid4()), "save_card": save_card}
    return client.post("/wallet/create-payment-intent/", json.dumps(body), content_type="application/json")


def chosen(user):
    return BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method


def turn_on(user):
    BillingSettings.objects.filter(pk=user.pk).update(
        auto_recharge_enabled=True, auto_recharge_threshold="10.00", auto_recharge_amount="50.00"
    )


# --- item 4: throttled card actions, cached card list ---------------------------------------------------

def test_the_card_list_is_cached_per_person_and_dropped_when_a_card_changes(auth_client, user, stripe_sandbox,
                                                                             monkeypatch):
    create(auth_client, stripe_sandbox.card())
    calls = []
    real = payments.list_saved_cards
    monkeypatch.setattr(payments, "list_saved_cards", lambda **kw: calls.append(kw) or real(**kw))
    for _ in range(3):
        assert "ending 4242" in auth_client.get(SETTINGS).content.decode()
    assert len(calls) == 1  # one Stripe call for three page views
    create(auth_client, stripe_sandbox.card("5555555555554444"))
    assert "ending 4444" in auth_client.get(SETTINGS).content.decode()  # a new card is seen at once
    assert len(calls) == 2
    auth_client.post(f"/wallet/settings/cards/{chosen(user)}/remove/")
    assert "ending 4242" not in auth_client.get(SETTINGS).content.decode()  # so is a removed one


@pytest.mark.parametrize("path", [SETTINGS, "/wallet/settings/cards/card_x/use/",
                                  "/wallet/settings/cards/card_x/remove/"])
def test_billing_posts_are_rate_limited(auth_client, settings, path):
    settings.BILLING_RATE_LIMIT = parse_rate("2/10m")
    answers = [auth_client.post(path, {}).status_code for _ in range(3)]
    assert answers[:2] != [429, 429] and answers[2] == 429


# --- item 5: the sandbox saves a card only once it paid, and never one saved on another customer ------

def test_a_declined_card_is_not_saved(auth_client, user, stripe_sandbox):
    answer = create(auth_client, stripe_sandbox.card(DECLINED))
    assert answer.status_code == 402
    assert billing.saved_cards(user=user) == [] and chosen(user) == ""


def test_a_card_saved_on_another_customer_is_refused_before_any_charge(auth_client, user, make_user,
                                                                       stripe_sandbox):
    other = make_user()
    card = stripe_sandbox.card()
    services.start_topup(user=other, amount="20.00", payment_method_id=card, idempotency_key="o", save_card=True)
    answer = create(auth_client, card)
    assert answer.status_code == 402
    assert "already saved on another account" in answer.json()["error"]
    assert not TopUp.objects.filter(user=user, status=TopUp.Status.SUCCEEDED).exists()
    assert billing.saved_cards(user=user) == []
    assert [c.id for c in billing.saved_cards(user=other)] == [card]


# --- item 10: which card pays never changes on its own ------------------------------------------------

def test_saving_a_new_card_keeps_the_card_automatic_topups_use(auth_client, user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card())
    first = chosen(user)
    turn_on(user)
    create(auth_client, stripe_sandbox.card("5555555555554444"))
    assert chosen(user) == first
    page = auth_client.get(SETTINGS).content.decode()
    marked = page[page.index("ending 4242"):page.index("</li>", page.index("ending 4242"))]
    assert "Used for automatic top-ups" in marked and page.count("Used for automatic top-ups</span>") == 1


def test_the_badge_is_not_shown_while_automatic_topups_are_off(auth_client, user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card())
    assert "Used for automatic top-ups</span>" not in auth_client.get(SETTINGS).content.decode()
    turn_on(user)
    assert "Used for automatic top-ups</span>" in auth_client.get(SETTINGS).content.decode()


def test_removing_the_card_automatic_topups_use_asks_first_and_never_switches(auth_client, user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card())
    first = chosen(user)
    create(auth_client, stripe_sandbox.card("5555555555554444"))
    turn_on(user)
    answer = auth_client.post(f"/wallet/settings/cards/{first}/remove/")
    page = answer.content.decode()
    assert answer.status_code == 200 and "turns them off until you choose another card" in page
    assert len(billing.saved_cards(user=user)) == 2 and chosen(user) == first  # nothing done yet
    answer = auth_client.post(f"/wallet/settings/cards/{first}/remove/", {"confirm": "yes"}, follow=True)
    assert "Automatic top-ups are off until you choose another card" in answer.content.decode()
    row = BillingSettings.objects.get(pk=user.pk)
    assert not row.auto_recharge_enabled and row.auto_recharge_payment_method == ""
    assert [c.last4 for c in billing.saved_cards(user=user)] == ["4444"]
    # Turning them on again needs a chosen card.
    answer = auth_client.post(SETTINGS, {"auto_recharge_enabled": "on", "auto_recharge_threshold": "10",
                                         "auto_recharge_amount": "50"})
    assert answer.status_code == 400 and "Choose the card for automatic top-ups first" in answer.content.decode()


def test_removing_another_card_needs_no_confirmation(auth_client, user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card())
    first = chosen(user)
    create(auth_client, stripe_sandbox.card("5555555555554444"))
    turn_on(user)
    other = [c.id for c in billing.saved_cards(user=user) if c.id != first][0]
    assert auth_client.post(f"/wallet/settings/cards/{other}/remove/").status_code == 302
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_enabled and row.auto_recharge_payment_method == first
