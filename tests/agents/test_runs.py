"""Using an agent: pages, the paid /use/ endpoint (JSON and form), refunds, idempotency, admin, seed."""

import json
import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.test import Client

from agents import queue, services
from agents.exceptions import RunnerError
from agents.models import Agent, AgentRun
from agents.runners import REGISTRY, RunnerSpec
from tests.helpers import balance_of, use_agent
from wallet import services as wallet_services
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db
URL = "https://paypal.com.secure-login.xyz/verify"


@pytest.fixture
def failing_runner(monkeypatch):
    """Registers `test_fail`: a runner that fails with internal detail that must never leak."""

    def fail(text, config):
        raise RunnerError("internal detail: upstream said 42 secret")

    monkeypatch.setitem(REGISTRY, "test_fail", RunnerSpec("test_fail", "Fails", fail))


@pytest.fixture
def crashing_runner(monkeypatch):
    def crash(text, config):
        raise ZeroDivisionError("secret traceback text")

    monkeypatch.setitem(REGISTRY, "test_crash", RunnerSpec("test_crash", "Crashes", crash))


def use(client, agent, text=URL, request_id=None, **extra):
    return use_agent(client, agent.slug, text, request_id, **extra)


def ledger_ok():
    call_command("check_ledger")


# --- success ------------------------------------------------------------------------------------

def test_json_success_charges_exactly_the_price_once(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    response = use(client, agent)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "succeeded"
    assert data["charged"] == "2.50"
    assert data["balance"] == "7.50"
    assert data["balance_display"] == "7.50 AED"
    assert "PHISHING URL CHECK" in data["output"] and "HIGH RISK" in data["output"]
    run = AgentRun.objects.get(pk=data["run_id"])
    assert run.status == AgentRun.Status.SUCCEEDED and run.output == data["output"]
    assert run.price == Decimal("2.50") and run.finished_at is not None and run.refund_transaction is None
    assert run.charge_transaction.amount == Decimal("-2.50")
    assert run.charge_transaction.type == TxType.AGENT_USAGE
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 1
    assert balance_of(user) == Decimal("7.50")
    ledger_ok()


def test_form_success_redirects_to_the_run_and_shows_output(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    rid = uuid.uuid4()
    response = client.post(f"/agents/{agent.slug}/use/", {"input": URL, "request_id": str(rid)})
    assert response.status_code == 302
    run = AgentRun.objects.get(user=user, request_id=rid)
    assert response["Location"] == f"/agents/{agent.slug}/?run={run.id}#run-{run.id}"
    page = client.get(response["Location"]).content.decode()
    assert "finished. 2.50 AED charged." in page
    assert "PHISHING URL CHECK" in page
    assert 'data-wallet-balance="7.50"' in page
    assert balance_of(user) == Decimal("7.50")


def test_each_builtin_agent_runs_through_the_endpoint(client, make_user):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    user = make_user(balance=Decimal("100.00"))
    client.force_login(user)
    samples = {
        "phishing-url-checker": URL,
        "email-header-analyzer": "From: a@b.example\nTo: c@d.example\nSubject: hi\n",
        "password-strength-auditor": "hunter2",
        "log-triage": '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5',
    }
    expected = Decimal("100.00")
    for slug, text in samples.items():
        agent = Agent.objects.get(slug=slug)
        response = use(client, agent, text)
        assert response.status_code == 200, (slug, response.content)
        expected -= agent.price
        assert Decimal(response.json()["balance"]) == expected
    assert balance_of(user) == expected
    ledger_ok()


def test_password_input_is_not_stored(client, make_user):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = Agent.objects.get(slug="password-strength-auditor")
    data = use(client, agent, "MyS3cret!Passw0rd").json()
    run = AgentRun.objects.get(pk=data["run_id"])
    assert run.input == "[not stored: 17 characters]"
    assert "MyS3cret" not in run.output
    assert "MyS3cret" not in client.get(f"/agents/{agent.slug}/").content.decode()


# --- insufficient balance -------------------------------------------------------------------------

def test_insufficient_balance_json_402_and_nothing_charged(client, make_user, make_agent):
    user = make_user(balance=Decimal("1.00"))
    client.force_login(user)
    agent = make_agent(price=Decimal("2.50"))
    response = use(client, agent)
    assert response.status_code == 402
    body = response.json()
    assert body["error"] == (
        "Not enough balance: this run costs 2.50 AED and your wallet has 1.00 AED (1.50 AED short)."
    )
    # shortfall 1.50, the top-up raised to the top-up minimum; the way back is the agent's page
    assert body["topup_url"] == f"/wallet/?amount=2.00&next=/agents/{agent.slug}/"
    big = make_agent(price=Decimal("20.00"))
    assert use(client, big).json()["topup_url"] == f"/wallet/?amount=19.00&next=/agents/{big.slug}/"
    assert not AgentRun.objects.exists()
    assert balance_of(user) == Decimal("1.00")
    assert WalletTransaction.objects.filter(user=user).count() == 1


def test_insufficient_balance_form_redirects_to_topup_with_message(client, make_user, make_agent):
    user = make_user()
    client.force_login(user)
    agent = make_agent(price=Decimal("5.00"))
    response = client.post(f"/agents/{agent.slug}/use/", {"input": URL, "request_id": str(uuid.uuid4())})
    assert response.status_code == 302
    assert response["Location"] == f"/wallet/?amount=5.00&next=/agents/{agent.slug}/"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Not enough balance: this run costs 5.00 AED and your wallet has 0.00 AED (5.00 AED short)."]
    assert not AgentRun.objects.exists()


def test_page_shows_topup_link_instead_of_button_when_balance_is_low(client, make_user, make_agent):
    user = make_user(balance=Decimal("3.00"))
    client.force_login(user)
    agent = make_agent(price=Decimal("7.25"))
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "Top up 4.25 AED to run Phishing URL checker" in page
    assert f'href="/wallet/?amount=4.25&amp;next=/agents/{agent.slug}/"' in page
    assert "Your balance is 3.00 AED and a run costs 7.25 AED: you need 4.25 AED more." in page
    assert "data-agent-submit" not in page
    cheap = make_agent(price=Decimal("3.00"))
    page = client.get(f"/agents/{cheap.slug}/").content.decode()
    assert "Run for 3.00 AED" in page and "Top up" not in page.split("<main", 1)[-1]


# --- failure and refund ---------------------------------------------------------------------------

def test_runner_error_charges_nothing_and_answers_200_failed_without_leaking(
    client, make_user, make_agent, failing_runner
):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = make_agent(runner="test_fail", price=Decimal("4.00"))
    response = use(client, agent)
    # A failed run is a business outcome (not charged), not a gateway error: never a 502.
    assert response.status_code == 200
    data = response.json()
    # An inline run is computed before it is charged: a failure never took the money at all.
    assert data["status"] == "failed" and data["refunded"] is False and data["charged"] == "0.00"
    assert data["error"] == "The agent could not complete this run."
    assert data["balance"] == "10.00"
    # The runner's internal text ("upstream said 42 secret") must not leak; look outside the ids,
    # which are random and may contain "42" by chance.
    leakable = {k: v for k, v in data.items() if k != "run_id"}
    assert "secret" not in str(leakable) and "upstream said" not in response.content.decode()
    run = AgentRun.objects.get(pk=data["run_id"])
    assert run.status == AgentRun.Status.FAILED
    # Recorded (it shows in the run list) with no charge and no refund: no ledger rows at all.
    assert run.charge_transaction is None and run.refund_transaction is None
    assert WalletTransaction.objects.filter(user=user).count() == 1  # the funding row only
    assert "not charged" in data["html"]
    total = WalletTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"]
    assert total == Decimal("10.00") == balance_of(user)
    ledger_ok()


def test_crashing_runner_is_not_charged_and_answers_a_generic_message(client, make_user, make_agent, crashing_runner):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = make_agent(runner="test_crash")
    response = client.post(f"/agents/{agent.slug}/use/", {"input": "x", "request_id": str(uuid.uuid4())})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "The agent could not complete this run. You were not charged." in page
    assert "refunded" not in page
    assert "secret traceback" not in page
    assert balance_of(user) == Decimal("10.00")
    ledger_ok()


def test_input_the_runner_cannot_use_is_refused_before_the_charge(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    response = use(client, agent, "no links in here")
    assert response.status_code == 400
    assert response.json()["error"].startswith("No URL found. This agent checks links")
    assert not AgentRun.objects.exists()
    assert WalletTransaction.objects.filter(user=user).count() == 1  # the funding row only


def test_failed_http_agent_costs_nothing(client, make_user, make_agent, settings,
                                        django_capture_on_commit_callbacks):
    settings.AGENT_HTTP_ALLOW_PRIVATE = True  # reach loopback, so the failure is the refused connection
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    agent = make_agent(runner="http", config={"url": "http://127.0.0.1:9/", "timeout": 2})
    # A queued run: the request answers 202 at once; on commit the run is enqueued, and the
    # immediate test backend runs it right there. The status URL then shows it failed and refunded.
    with django_capture_on_commit_callbacks(execute=True):
        response = use(client, agent)
    first = response.json()
    assert response.status_code == 202 and first["status"] == "queued" and first["cancel_url"]
    assert "Waiting for a worker" in first["html"]
    status = client.get(first["status_url"]).json()
    assert status["status"] == "failed" and status["refunded"] is True
    assert balance_of(user) == Decimal("10.00")


# --- idempotency --------------------------------------------------------------------------------

def test_same_request_id_returns_first_result_and_charges_once(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    rid = uuid.uuid4()
    first = use(client, agent, request_id=rid).json()
    again = use(client, agent, text="https://other.example/", request_id=rid)
    assert again.status_code == 200
    second = again.json()
    assert second["run_id"] == first["run_id"] and second["output"] == first["output"]
    assert second["duplicate"] is True and first["duplicate"] is False
    assert AgentRun.objects.count() == 1
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 1
    assert balance_of(user) == Decimal("7.50")


def test_same_request_id_of_a_failed_run_returns_the_failure(client, make_user, make_agent, failing_runner):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = make_agent(runner="test_fail")
    rid = uuid.uuid4()
    use(client, agent, request_id=rid)
    again = use(client, agent, request_id=rid)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["status"] == "failed"
    assert AgentRun.objects.filter(user=user).count() == 1
    assert WalletTransaction.objects.filter(user=user).count() == 1  # the funding row only


def test_duplicate_of_a_run_still_in_progress_answers_202(client, make_user, make_agent, settings, monkeypatch):
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    monkeypatch.setattr(queue, "enqueue_run", lambda run: None)  # a worker claims it by hand below
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = make_agent(runner="http", config={"url": "http://127.0.0.1:9/", "timeout": 2})
    rid = uuid.uuid4()
    # The first request has been charged and a worker is running it.
    run = services.run_agent(user=user, agent=agent, input_text=URL, request_id=rid).run
    AgentRun.objects.filter(pk=run.pk).update(status=AgentRun.Status.RUNNING, attempts=1)
    response = use(client, agent, request_id=rid)
    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "running" and data["run_id"] == str(run.id) and data["duplicate"] is True
    assert data["status_url"] == f"/agents/runs/{run.id}/"
    assert client.get(data["status_url"]).json()["status"] == "running"
    assert balance_of(user) == Decimal("10.00") - agent.price
    assert WalletTransaction.objects.filter(user=user, type=TxType.AGENT_USAGE).count() == 1


def test_same_request_id_for_another_agent_is_409(client, make_user, make_agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    a, b = make_agent(), make_agent()
    rid = uuid.uuid4()
    assert use(client, a, request_id=rid).status_code == 200
    response = use(client, b, request_id=rid)
    assert response.status_code == 409
    assert balance_of(user) == Decimal("7.50")


def test_request_ids_are_per_user(client, make_user, agent):
    alice, bob = make_user(balance=Decimal("10")), make_user(balance=Decimal("10"))
    rid = uuid.uuid4()
    client.force_login(alice)
    first = use(client, agent, request_id=rid).json()
    client.force_login(bob)
    second = use(client, agent, request_id=rid).json()
    assert first["run_id"] != second["run_id"]
    assert balance_of(alice) == balance_of(bob) == Decimal("7.50")
    # Bob cannot read Alice's run.
    assert client.get(f"/agents/runs/{first['run_id']}/").status_code == 404


# --- availability and validation ----------------------------------------------------------------

def test_inactive_or_unknown_agent_is_404(client, make_user, make_agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    agent = make_agent(is_active=False)
    assert client.get(f"/agents/{agent.slug}/").status_code == 404
    assert use(client, agent).status_code == 404
    assert client.get("/agents/no-such-agent/").status_code == 404
    assert client.post("/agents/no-such-agent/use/", {"input": "x"}).status_code == 404
    assert agent.name not in client.get("/agents/").content.decode()
    # An agent whose runner is not registered (a typo in the admin, a removed runner) is unavailable.
    assert use(client, make_agent(runner="nope")).status_code == 404
    assert not AgentRun.objects.exists() and balance_of(user) == Decimal("10.00")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "No URL found."),
        ("   \n\t ", "No URL found."),
        (None, "Enter some text"),
        (12345, "Enter some text"),
        ("x" * (services.MAX_INPUT_CHARS + 1), "this agent takes up to 50,000"),
        ("abc\x00def", "binary data"),
        ("bad \ud800 surrogate", "valid Unicode"),
    ],
)
def test_bad_input_is_400_and_nothing_charged(client, make_user, agent, text, message):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    response = use(client, agent, text)
    assert response.status_code == (413 if "takes up to" in message else 400)
    assert message in response.json()["error"]
    assert not AgentRun.objects.exists() and balance_of(user) == Decimal("10.00")


def test_input_at_the_limit_is_accepted(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    text = (URL + " ").ljust(services.MAX_INPUT_CHARS, "a")
    assert use(client, agent, text).status_code == 200


def test_form_with_bad_input_redirects_and_shows_the_refusal_once(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    response = client.post(f"/agents/{agent.slug}/use/", {"input": "no link", "request_id": str(uuid.uuid4())})
    # Post/redirect/get: a reload of the page that follows does not post again.
    assert response.status_code == 302 and response["Location"] == f"/agents/{agent.slug}/#agent-input"
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "No URL found. This agent checks links" in page and 'aria-invalid="true"' in page
    assert ">no link</textarea>" in page  # what was typed comes back
    again = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "No URL found" not in again and 'aria-invalid="true"' not in again
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', " ", "null"])
def test_malformed_json_is_400(client, make_user, agent, body):
    client.force_login(make_user(balance=Decimal("10.00")))
    response = client.post(f"/agents/{agent.slug}/use/", body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("rid", [None, "", "not-a-uuid", 42])
def test_missing_or_bad_request_id_is_400(client, make_user, agent, rid):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    body = json.dumps({"input": URL, "request_id": rid})
    response = client.post(f"/agents/{agent.slug}/use/", body, content_type="application/json")
    assert response.status_code == 400
    assert "Reload the page" in response.json()["error"]
    assert balance_of(user) == Decimal("10.00")


def test_csrf_is_enforced_for_json_and_form(make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert use(client, agent).status_code == 403
    assert client.post(f"/agents/{agent.slug}/use/", {"input": URL, "request_id": str(uuid.uuid4())}).status_code == 403
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    rid = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
    assert use(client, agent, request_id=rid, HTTP_X_CSRFTOKEN=token).status_code == 200
    assert balance_of(user) == Decimal("7.50")


def test_anonymous_users_are_sent_to_login(client, agent):
    assert use(client, agent).status_code == 401
    response = client.post(f"/agents/{agent.slug}/use/", {"input": URL})
    assert response.status_code == 302 and f"next=/agents/{agent.slug}/" in response["Location"]
    assert client.get("/agents/").status_code == 302
    assert client.get(f"/agents/{agent.slug}/use/").status_code == 405


# --- catalogue and pages ------------------------------------------------------------------------

def test_catalogue_lists_active_agents_with_price_and_affordability(client, make_user, make_agent):
    client.force_login(make_user(balance=Decimal("3.00")))
    make_agent(name="Cheap agent", price=Decimal("1.00"), sort_order=1)
    make_agent(name="Pricey agent", price=Decimal("1234.50"), sort_order=2)
    make_agent(name="Hidden agent", is_active=False)
    page = client.get("/agents/").content.decode()
    assert page.index("Cheap agent") < page.index("Pricey agent")
    assert "1.00 AED" in page and "1,234.50 AED" in page
    assert page.count("You can afford this") == 1 and page.count("Top up needed") == 1
    assert "Hidden agent" not in page


def test_price_change_applies_to_new_runs_only(client, make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    first = use(client, agent).json()
    Agent.objects.filter(pk=agent.pk).update(price=Decimal("3.10"))
    agent.refresh_from_db()
    second = use(client, agent).json()
    assert AgentRun.objects.get(pk=first["run_id"]).price == Decimal("2.50")
    assert second["charged"] == "3.10"
    assert balance_of(user) == Decimal("4.40")
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "charged 2.50 AED" in page and "charged 3.10 AED" in page


# --- constraints ---------------------------------------------------------------------------------

def test_database_constraints(make_user, agent):
    user = make_user(balance=Decimal("10.00"))
    run = services.run_agent(user=user, agent=agent, input_text=URL, request_id=uuid.uuid4()).run
    duplicate = r"agentrun_unique_request_per_user|agents_agentrun\.request_id"
    with pytest.raises(IntegrityError, match=duplicate), transaction.atomic():
        AgentRun.objects.create(
            user=user, agent=agent, request_id=run.request_id, price=Decimal("1"),
            charge_transaction=WalletTransaction.objects.filter(type=TxType.ADJUSTMENT).first(),
        )
    money = "agentrun_money_matches_status"
    with pytest.raises(IntegrityError, match=money), transaction.atomic():
        # Charged, failed, not refunded (with a finish time, so only the money rule is broken).
        AgentRun.objects.filter(pk=run.pk).update(status="failed", finished_at=run.started_at)
    with pytest.raises(IntegrityError, match=money), transaction.atomic():
        AgentRun.objects.filter(pk=run.pk).update(charge_transaction=None)  # a live run without its charge
    refund = wallet_services.credit(user=user, amount="2.50", type=TxType.AGENT_REFUND, description="refund")
    with pytest.raises(IntegrityError, match=money), transaction.atomic():
        # A refund on a run that was never charged (an inline failure) would hand out money.
        AgentRun.objects.filter(pk=run.pk).update(
            status="failed", charge_transaction=None, refund_transaction=refund, finished_at=run.started_at
        )
    with pytest.raises(IntegrityError, match="agentrun_finished_has_time"), transaction.atomic():
        AgentRun.objects.filter(pk=run.pk).update(finished_at=None)  # succeeded without a time
    with pytest.raises(IntegrityError, match="agent_price_positive"), transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(price=Decimal("0"))
    # PostgreSQL names the unique constraint; SQLite names its column.
    with pytest.raises(IntegrityError, match=r"agent_unique_slug|agents_agent\.slug"), transaction.atomic():
        Agent.objects.create(name="x", slug=agent.slug, description="", price=Decimal("1"), runner="http")


# --- admin --------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def admin_form(**overrides):
    data = {
        "name": "Port scanner", "slug": "port-scanner", "description": "n8n flow", "price": "4.00",
        "is_active": "on", "runner": "http", "config": '{"url": "https://n8n.example.com/webhook/x"}',
        "input_label": "Input", "input_placeholder": "", "sort_order": "50",
    }
    data.update(overrides)
    return data


def test_admin_creates_agent_and_validates_runner_and_config(admin_client):
    response = admin_client.post("/admin/agents/agent/add/", admin_form(runner="nope"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = admin_client.post("/admin/agents/agent/add/", admin_form(config='{"url": "file:///etc/passwd"}'))
    assert response.status_code == 200 and "must be an http(s) URL" in response.content.decode()
    response = admin_client.post("/admin/agents/agent/add/", admin_form(price="0"))
    assert response.status_code == 200 and "greater than zero" in response.content.decode()
    assert not Agent.objects.exists()
    response = admin_client.post("/admin/agents/agent/add/", admin_form())
    assert response.status_code == 302
    agent = Agent.objects.get(slug="port-scanner")
    assert agent.config == {"url": "https://n8n.example.com/webhook/x"} and agent.price == Decimal("4.00")
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/change/", admin_form(price="4.50", is_active=""))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.price == Decimal("4.50") and not agent.is_active


def test_admin_agent_runs_are_read_only_with_filters_and_search(admin_client, make_user, agent):
    user = make_user(email="runner@example.com", balance=Decimal("10.00"))
    Client().force_login(user)
    result = services.run_agent(user=user, agent=agent, input_text=URL, request_id=uuid.uuid4())
    page = admin_client.get("/admin/agents/agentrun/?q=runner@example").content.decode()
    assert "runner@example.com" in page
    assert admin_client.get("/admin/agents/agentrun/?q=nobody@example").content.decode().count(
        "runner@example.com") == 0
    assert admin_client.get("/admin/agents/agentrun/?status__exact=succeeded").status_code == 200
    assert admin_client.get(f"/admin/agents/agentrun/?agent__id__exact={agent.pk}").status_code == 200
    assert admin_client.get("/admin/agents/agentrun/add/").status_code == 403
    detail = admin_client.get(f"/admin/agents/agentrun/{result.run.pk}/change/")
    assert detail.status_code == 200 and b'name="status"' not in detail.content
    response = admin_client.post(f"/admin/agents/agentrun/{result.run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AgentRun.objects.filter(pk=result.run.pk).exists()


# --- seed ---------------------------------------------------------------------------------------

def test_seed_demo_is_idempotent_and_keeps_ops_prices(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "demo@netcop.local / netcop-demo-123" in out
    assert set(Agent.objects.values_list("runner", flat=True)) == {
        "phishing_url", "email_headers", "password_audit", "log_triage"}
    Agent.objects.filter(slug="log-triage").update(price=Decimal("9.99"))
    call_command("seed_demo")
    assert "demo@netcop.local / netcop-demo-123" in capsys.readouterr().out
    assert Agent.objects.count() == 4
    assert Agent.objects.get(slug="log-triage").price == Decimal("9.99")
    User = get_user_model()
    assert User.objects.filter(email="demo@netcop.local").count() == 1
    client = Client()
    resp = client.post("/accounts/login/", {"username": "demo@netcop.local", "password": "netcop-demo-123"})
    assert resp.status_code == 302 and "_auth_user_id" in client.session
    for agent in Agent.objects.all():
        agent.full_clean()


def legacy_charged_run(user, agent, **fields) -> AgentRun:
    """A run as inline runs were written before they were charged and recorded in one commit:
    charged, status "charged", to be finished by a second write that a crash could lose."""
    entry = wallet_services.debit(user=user, amount=agent.price, type=TxType.AGENT_USAGE, description="run")
    return AgentRun.objects.create(
        user=user, agent=agent, request_id=uuid.uuid4(), input=URL, price=agent.price,
        charge_transaction=entry, status=AgentRun.Status.CHARGED, **fields,
    )


def test_stuck_charged_runs_are_refunded_once(make_user, agent, capsys):
    from datetime import timedelta

    from django.utils import timezone

    user = make_user(balance=Decimal("10.00"))
    stuck = legacy_charged_run(user, agent)
    fresh = legacy_charged_run(user, agent)
    AgentRun.objects.filter(pk=stuck.pk).update(started_at=timezone.now() - timedelta(hours=1))
    call_command("refund_stuck_runs", "--minutes", "15")
    assert "Refunded 1 stuck agent run(s)." in capsys.readouterr().out
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == AgentRun.Status.FAILED and stuck.refund_transaction.amount == Decimal("2.50")
    assert fresh.status == AgentRun.Status.CHARGED
    call_command("refund_stuck_runs", "--minutes", "15")
    assert "Refunded 0" in capsys.readouterr().out
    assert balance_of(user) == Decimal("7.50")
    ledger_ok()


def test_refund_stuck_runs_refuses_a_window_too_short_for_running_agents():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--minutes must be at least 3"):
        call_command("refund_stuck_runs", "--minutes", "0")


# --- the inline path: compute first, then charge and record in one transaction ------------------


def test_an_empty_wallet_is_refused_before_the_runner_runs(client, make_user, make_agent, monkeypatch):
    calls = []
    monkeypatch.setitem(REGISTRY, "test_count", RunnerSpec("test_count", "Counts", lambda t, c: calls.append(t) or "ok"))
    user = make_user(balance=Decimal("1.00"))
    client.force_login(user)
    agent = make_agent(runner="test_count", price=Decimal("2.50"))
    response = use(client, agent, "x")
    assert response.status_code == 402
    assert calls == []  # no free computation for a wallet that cannot pay
    assert not AgentRun.objects.exists()


def test_a_wallet_emptied_while_computing_gets_402_and_the_output_is_discarded(
    client, make_user, make_agent, monkeypatch
):
    user = make_user(balance=Decimal("3.00"))

    def spend_meanwhile(text, config):
        # Another payment takes the money after the pre-check passed, before the charge.
        from wallet.services import debit

        debit(user=user.pk, amount=Decimal("2.00"), type=TxType.AGENT_USAGE, description="elsewhere")
        return "computed"

    monkeypatch.setitem(REGISTRY, "test_spend", RunnerSpec("test_spend", "Spends", spend_meanwhile))
    client.force_login(user)
    agent = make_agent(runner="test_spend", price=Decimal("2.50"))
    response = use(client, agent, "x")
    assert response.status_code == 402
    assert not AgentRun.objects.exists()
    assert balance_of(user) == Decimal("1.00")
    ledger_ok()


# --- the monthly spend limit, read with the agent --------------------------------------------------

def test_the_spend_limit_read_with_the_agent_keeps_its_cents(client, make_user, agent):
    from wallet.models import BillingSettings

    user = make_user(balance=Decimal("10.00"))
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("5.01"))
    client.force_login(user)
    assert use(client, agent).status_code == 200  # 2.50 of 5.01
    assert use(client, agent).status_code == 200  # 5.00 of 5.01
    refused = use(client, agent)  # 7.50 would pass it
    assert refused.status_code == 402
    assert refused.json()["limit"] == "5.01" and refused.json()["spent"] == "5.00"
    assert balance_of(user) == Decimal("5.00")


def test_an_agent_looked_up_for_one_user_checks_another_users_own_limit(make_user, agent):
    from agents.exceptions import SpendLimitReached
    from wallet.models import BillingSettings

    alice, bob = make_user(balance=Decimal("10.00")), make_user(balance=Decimal("10.00"))
    BillingSettings.objects.create(user=bob, monthly_spend_limit=Decimal("1.00"))
    found = services.get_active_agent(slug=agent.slug, user=alice)  # alice has no limit
    with pytest.raises(SpendLimitReached):
        services.run_agent(user=bob, agent=found, input_text=URL, request_id=uuid.uuid4())
    services.run_agent(user=alice, agent=found, input_text=URL, request_id=uuid.uuid4())
    assert balance_of(alice) == Decimal("7.50") and balance_of(bob) == Decimal("10.00")


def test_a_report_with_characters_the_database_refuses_is_stored_cleaned(make_user, make_agent, monkeypatch):
    from agents.reports import Block, Report, Verdict

    def sloppy(text, config):  # a runner quoting raw bytes into its report (PostgreSQL refuses both)
        return Report(Verdict("ok", "Fine"), [Block("facts", "Seen", items=[("Raw", "a\x00b\udc80c")])], "done")

    monkeypatch.setitem(REGISTRY, "test_sloppy", RunnerSpec("test_sloppy", "Sloppy", sloppy))
    user = make_user(balance=Decimal("10.00"))
    agent = make_agent(runner="test_sloppy")
    run = services.run_agent(user=user, agent=agent, input_text="x", request_id=uuid.uuid4()).run
    run.refresh_from_db()
    assert run.status == AgentRun.Status.SUCCEEDED and run.output == "done"
    assert run.report["blocks"][0]["items"] == [["Raw", "a\N{REPLACEMENT CHARACTER}b?c"]]
