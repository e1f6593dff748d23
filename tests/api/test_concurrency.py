"""Races through the API (issue 21): run on PostgreSQL in CI (and on SQLite, serialised)."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from agents.models import AgentRun
from tests.concurrency import run_concurrently
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://paypa1.com/login"


@pytest.fixture
def agent(make_agent):
    return make_agent(slug="phish", description="", price=Decimal("2.00"))


def post(secret, slug, idempotency_key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if idempotency_key:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    return Client().post(
        f"/api/v1/agents/{slug}/runs", {"input": URL}, content_type="application/json", **headers
    )


def assert_ledger_consistent(user):
    user = get_user_model().objects.get(pk=user.pk)
    total = WalletTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"]
    assert Decimal(total).quantize(Decimal("0.01")) == user.wallet_balance
    call_command("check_ledger")
    return user.wallet_balance


def test_fifty_way_race_of_one_idempotency_key_is_one_run_one_charge(make_user, make_key, agent, settings):
    settings.API_RATE_LIMIT = None
    user = make_user(balance=Decimal("100.00"))
    _, secret = make_key(user)
    results = run_concurrently(lambda i: post(secret, agent.slug, "the-one-order"), 50)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted({r.status_code for r in results}) == [200], [r.content for r in results if r.status_code != 200]
    assert len({r.json()["id"] for r in results}) == 1
    assert AgentRun.objects.filter(user=user).count() == 1
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 1
    assert assert_ledger_consistent(user) == Decimal("98.00")


def test_key_cap_is_never_exceeded_under_concurrency(make_user, make_key, agent, settings):
    settings.API_RATE_LIMIT = None
    user = make_user(balance=Decimal("100.00"))
    key, secret = make_key(user, monthly_cap=Decimal("9.00"))
    results = run_concurrently(lambda i: post(secret, agent.slug), 30)
    assert not [r for r in results if isinstance(r, BaseException)], results
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 4 and codes.count(402) == 26, codes
    assert {r.json()["code"] for r in results if r.status_code == 402} == {"key_cap"}
    spent = -WalletTransaction.objects.filter(api_key=key).aggregate(s=Sum("amount"))["s"]
    assert spent == Decimal("8.00") <= key.monthly_cap
    assert assert_ledger_consistent(user) == Decimal("92.00")


def test_revoked_mid_stream_is_refused_on_the_next_request(make_user, make_key, agent):
    from authentication import api_keys

    user = make_user(balance=Decimal("100.00"))
    key, secret = make_key(user)
    assert post(secret, agent.slug).status_code == 200
    api_keys.revoke(user=user, key_id=key.pk)
    r = post(secret, agent.slug)
    assert r.status_code == 401 and r.json()["code"] == "api_key_revoked"
    assert AgentRun.objects.filter(user=user).count() == 1
