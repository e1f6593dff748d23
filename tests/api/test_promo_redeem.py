"""Redeeming a promo code through the API (issue 23, item 4): the page's service and rules, by key."""

import json
from decimal import Decimal

import pytest
from django.core.cache import cache

from netcop_hub.config import parse_rate
from wallet.models import CreditLot, LotKind, PromoCode, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

URL = "/api/v1/promo-codes/redeem"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()


def redeem(client, bearer, secret, code):
    return client.post(URL, json.dumps({"code": code}), content_type="application/json", **bearer(secret))


def test_a_code_redeemed_by_key_adds_promotional_credit_once(client, make_user, make_key, bearer):
    user = make_user()
    _, secret = make_key(user, scopes=["credits:redeem"])
    PromoCode.objects.create(code="WELCOME10", amount=Decimal("10.00"), max_redemptions=5, credit_valid_days=30)

    first = redeem(client, bearer, secret, "welcome10")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["code"] == "WELCOME10" and body["amount"] == "10.00" and body["new"] is True
    assert body["expires_at"] is not None

    again = redeem(client, bearer, secret, "WELCOME10")
    assert again.status_code == 200 and again.json()["new"] is False
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("10.00")
    assert WalletTransaction.objects.filter(user=user, type=TxType.PROMO_CODE).count() == 1
    assert CreditLot.objects.get(user=user).kind == LotKind.PROMOTIONAL


def test_refusals_are_problems_with_words(client, make_user, make_key, bearer):
    user = make_user()
    _, secret = make_key(user, scopes=["credits:redeem"])
    answer = redeem(client, bearer, secret, "NOPE")
    assert answer.status_code == 400 and answer["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "promo_code_refused" and "does not exist" in answer.json()["detail"]


def test_the_scope_is_needed(client, make_user, make_key, bearer):
    _, secret = make_key(make_user(), scopes=["wallet:read"])
    PromoCode.objects.create(code="WELCOME10", amount=Decimal("10.00"), max_redemptions=5)
    answer = redeem(client, bearer, secret, "WELCOME10")
    assert answer.status_code == 403
    assert not WalletTransaction.objects.filter(type=TxType.PROMO_CODE).exists()


def test_guessing_codes_is_as_slow_as_on_the_page(client, make_user, make_key, bearer, settings):
    settings.PROMO_REDEEM_RATE_LIMIT = parse_rate("2/1h")
    _, secret = make_key(make_user(), scopes=["credits:redeem"])
    assert [redeem(client, bearer, secret, f"GUESS{i}").status_code for i in range(2)] == [400, 400]
    third = redeem(client, bearer, secret, "GUESS3")
    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert third.json()["code"] == "rate_limited"
