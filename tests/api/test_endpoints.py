"""Every /api/v1/ endpoint with real keys (issue 21): the same services as the pages underneath."""

import uuid
from decimal import Decimal

import pytest

from agents.models import AgentRun
from agents.runners import REGISTRY
from wallet.models import BillingSettings, TxType, WalletTransaction

pytestmark = pytest.mark.django_db
URL = "http://paypa1.com/login"


def run(client, slug, secret, text=URL, key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(f"/api/v1/agents/{slug}/runs", {"input": text}, content_type="application/json", **headers)


def test_inline_run_charges_once_and_records_the_key(client, make_user, make_key, agent):
    user = make_user(balance=Decimal("10.00"))
    key, secret = make_key(user)
    r = run(client, agent.slug, secret, key="order-1")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "succeeded" and body["charged"] == "2.50" and body["report"]
    assert body["api_key"] == f"test key ({key.prefix}…)"
    assert "Idempotent-Replayed" not in r
    again = run(client, agent.slug, secret, key="order-1")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again["Idempotent-Replayed"] == "true"
    charges = WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE)
    assert charges.count() == 1 and charges.get().api_key_id == key.pk
    assert AgentRun.objects.get(pk=body["id"]).api_key_id == key.pk
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("7.50")


def test_same_idempotency_key_with_another_body_is_refused(client, make_user, make_key, agent):
    _, secret = make_key(make_user(balance=Decimal("10.00")))
    assert run(client, agent.slug, secret, key="k").status_code == 200
    r = run(client, agent.slug, secret, text="http://other.example/", key="k")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"


def test_insufficient_balance_problem_has_the_figures(client, make_user, make_key, agent):
    _, secret = make_key(make_user(balance=Decimal("1.00")))
    r = run(client, agent.slug, secret)
    assert r.status_code == 402 and r["Content-Type"] == "application/problem+json"
    p = r.json()
    assert p["code"] == "insufficient_balance" and p["status"] == 402 and p["title"] and p["detail"]
    assert (p["balance"], p["price"], p["shortfall"]) == ("1.00", "2.50", "1.50")
    assert p["topup_url"].startswith("http://testserver/wallet/")


def test_spend_limit_and_key_cap_apply_as_on_the_page(client, make_user, make_key, agent):
    user = make_user(balance=Decimal("50.00"))
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("4.00"))
    _, secret = make_key(user)
    assert run(client, agent.slug, secret).status_code == 200
    r = run(client, agent.slug, secret)
    assert r.status_code == 402 and r.json()["code"] == "spend_limit"
    assert (r.json()["limit"], r.json()["spent"]) == ("4.00", "2.50")

    other = make_user(balance=Decimal("50.00"))
    _, capped = make_key(other, monthly_cap=Decimal("5.00"))
    _, free = make_key(other, name="uncapped")
    assert run(client, agent.slug, capped).status_code == 200
    assert run(client, agent.slug, capped).status_code == 200
    r = run(client, agent.slug, capped)
    assert r.status_code == 402 and r.json()["code"] == "key_cap" and r.json()["spent"] == "5.00"
    # The cap is the key's own: another key of the account still runs.
    assert run(client, agent.slug, free).status_code == 200


def test_bad_input_unknown_agent_and_schema_errors(client, make_user, make_key, agent):
    _, secret = make_key(make_user(balance=Decimal("10.00")))
    assert run(client, "nope", secret).status_code == 404
    r = client.post(
        f"/api/v1/agents/{agent.slug}/runs", {"inputs": 1}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = run(client, agent.slug, secret, text="x" * 100_000)
    assert r.status_code == 413 and r.json()["code"] == "input_too_long"
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/api/v1/nothing-here")["Content-Type"] == "application/problem+json"


def test_balance_agents_transactions_and_runs(client, make_user, make_key, agent, bearer):
    user = make_user(balance=Decimal("20.00"))
    key, secret = make_key(user, monthly_cap=Decimal("10.00"))
    for i in range(3):
        assert run(client, agent.slug, secret, key=f"r{i}").status_code == 200
    b = client.get("/api/v1/balance", **bearer(secret)).json()
    assert b == {
        "balance": "12.50", "currency": "AED", "month_spent": "7.50", "spend_limit": None,
        "key_month_spent": "7.50", "key_cap": "10.00", "on_hold": False,
    }
    agents = client.get("/api/v1/agents", **bearer(secret)).json()
    mine = next(a for a in agents if a["slug"] == agent.slug)
    assert mine["price"] == "2.50" and mine["queued"] is False and mine["max_input_chars"] > 0

    page = client.get("/api/v1/transactions?limit=2", **bearer(secret)).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"/api/v1/transactions?limit=2&cursor={page['next_cursor']}", **bearer(secret)).json()
    ids = [t["id"] for t in page["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == 4 and rest["next_cursor"] is None
    assert page["items"][0]["api_key"].endswith(f"({key.prefix}…)")
    only = client.get("/api/v1/transactions?type=adjustment", **bearer(secret)).json()["items"]
    assert [t["type"] for t in only] == ["adjustment"]

    runs = client.get("/api/v1/runs?limit=2", **bearer(secret)).json()
    assert len(runs["items"]) == 2 and runs["next_cursor"]
    one = client.get(runs["items"][0]["status_url"], **bearer(secret))
    assert one.status_code == 200 and one.json()["id"] == runs["items"][0]["id"]
    assert client.get(f"/api/v1/runs/{uuid.uuid4()}", **bearer(secret)).status_code == 404


def test_another_accounts_run_is_not_found(client, make_user, make_key, agent, bearer):
    _, secret = make_key(make_user(balance=Decimal("10.00")))
    run_id = run(client, agent.slug, secret).json()["id"]
    _, stranger = make_key(make_user())
    assert client.get(f"/api/v1/runs/{run_id}", **bearer(stranger)).status_code == 404
    assert client.post(f"/api/v1/runs/{run_id}/cancel", **bearer(stranger)).status_code == 404


@pytest.fixture
def queued_agent(make_agent, settings):
    assert REGISTRY["http"].queued
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    return make_agent(slug="remote", runner="http", config={"url": "http://127.0.0.1:9/hook"})


def test_queued_run_answers_202_with_location_and_cancels(client, settings, make_user, make_key,
                                                          queued_agent, bearer):
    # A queue that never runs the task: the run stays queued until canceled.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend",
                                  "QUEUES": ["default", "agents"]}}
    user = make_user(balance=Decimal("10.00"))
    _, secret = make_key(user)
    r = run(client, queued_agent.slug, secret, text="hello")
    assert r.status_code == 202, r.content
    body = r.json()
    assert r["Location"] == body["status_url"] and body["status"] == "queued"
    assert client.get(r["Location"], **bearer(secret)).json()["status"] == "queued"
    c = client.post(body["cancel_url"], **bearer(secret))
    assert c.status_code == 200 and c.json()["status"] == "failed" and c.json()["refunded"] is True
    again = client.post(body["cancel_url"], **bearer(secret))
    assert again.status_code == 409 and again.json()["code"] == "run_not_cancelable"
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("10.00")


def test_a_run_only_key_polls_the_runs_it_started_and_no_other(client, settings, make_user, make_key,
                                                               queued_agent, bearer):
    """The 202's Location works for the key that got it, even with agents:run alone; that key does
    not read the account's other runs (history:read does)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend",
                                  "QUEUES": ["default", "agents"]}}
    user = make_user(balance=Decimal("10.00"))
    _, runner = make_key(user, scopes=["agents:run"], name="ci job")
    _, other = make_key(user, scopes=["agents:run"], name="mail gateway")
    _, reader = make_key(user, scopes=["history:read"], name="dashboard")
    _, wallet_only = make_key(user, scopes=["wallet:read"], name="balance widget")
    r = run(client, queued_agent.slug, runner, text="hello")
    assert r.status_code == 202, r.content
    poll = client.get(r["Location"], **bearer(runner))
    assert poll.status_code == 200 and poll.json()["status"] == "queued"
    assert client.get(r["Location"], **bearer(other)).status_code == 404
    assert client.get(r["Location"], **bearer(reader)).status_code == 200
    refused = client.get(r["Location"], **bearer(wallet_only))
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert refused.json()["scope"] == "history:read"
    assert client.get("/api/v1/runs", **bearer(runner)).status_code == 403


def test_openapi_document_is_public_and_names_every_endpoint(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert {"/api/v1/balance", "/api/v1/agents/{slug}/runs", "/api/v1/runs/{run_id}/cancel"} <= set(doc["paths"])
    post = doc["paths"]["/api/v1/agents/{slug}/runs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert "application/problem+json" in post["responses"]["402"]["content"]
    assert doc["components"]["securitySchemes"]


def test_history_page_and_csv_name_the_key(client, make_user, make_key, agent):
    user = make_user(balance=Decimal("10.00"))
    key, secret = make_key(user, name="mail gateway")
    assert run(client, agent.slug, secret).status_code == 200
    client.force_login(user)
    page = client.get("/wallet/history/").content.decode()
    assert f"via API key mail gateway ({key.prefix}…)" in page
    # Its own small line under the description, like the promotional note: no <br> and a blank line.
    assert f'<span class="history-lots history-key">via API key mail gateway ({key.prefix}…)</span>' in page
    csv_text = b"".join(client.get("/wallet/history/export.csv").streaming_content).decode()
    header, first = csv_text.splitlines()[:2]
    assert header.endswith(",API key,Promotional part") and first.endswith(f"mail gateway ({key.prefix}…),0.00")
