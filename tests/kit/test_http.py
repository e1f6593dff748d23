"""The shared HTTP kit (netcop_hub/http.py) and what it promises every JSON endpoint: one answer shape
for both top-up endpoints, no-store on JSON, a JSON 413 for oversized bodies, the one amount rule,
an HttpOnly CSRF cookie, and a failed agent run answered as an outcome, not a 502."""

import ast
import json
import re
import uuid
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory

from agents.exceptions import TOO_LONG, RunnerError, RunNotCancelable
from agents.models import Agent
from agents.runners import REGISTRY, RunnerSpec
from netcop_hub import http
from netcop_hub.errors import DomainError
from netcop_hub.pageconfig import TOO_MANY
from tests.helpers import CONFIRM_URL, CREATE_URL, create_topup, post_json
from wallet import money, services
from wallet.exceptions import InsufficientBalance, InvalidAmount
from wallet.models import TopUp

pytestmark = pytest.mark.django_db

CREATE = CREATE_URL
CONFIRM = CONFIRM_URL
BAD_AMOUNT = "Enter an amount like 100 or 100.50."


create = create_topup


def fund(user, amount=Decimal("10.00")):
    services.credit(user=user, amount=amount, type=services.TxType.ADJUSTMENT, description="test funds")


@pytest.fixture
def agent(make_agent):
    return make_agent(name="Checker", slug="checker", description="Checks.", price=Decimal("2.50"))


@pytest.fixture
def fake_topups(monkeypatch, user):
    """Both endpoints' service calls answer with a top-up in a state the test chooses (no Stripe)."""
    state = {}

    def make(status):
        topup = TopUp.objects.create(
            user=user,
            amount=Decimal("20.00"),
            currency=django_settings.WALLET_CURRENCY,
            idempotency_key=f"k-{status}",
            stripe_payment_intent_id=f"pi_{status}",
            status=TopUp.Status.PENDING if status == TopUp.Status.SUCCEEDED else status,
            failure_reason="Declined." if status == TopUp.Status.FAILED else "",
        )
        # A succeeded row needs its ledger credit (a constraint); the answer only reads the object.
        topup.status = status
        state["result"] = services.SettleResult(topup=topup, credited_now=False)
        return topup

    monkeypatch.setattr(services, "start_topup", lambda **kw: state["result"])
    monkeypatch.setattr(services, "finish_topup", lambda **kw: state["result"])
    return make


# --- one answer shape for both top-up endpoints ----------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [TopUp.Status.SUCCEEDED, TopUp.Status.PENDING, TopUp.Status.FAILED, TopUp.Status.CANCELED, TopUp.Status.RETURNED],
)
def test_both_topup_endpoints_answer_the_same_outcome_alike(auth_client, fake_topups, status):
    topup = fake_topups(status)
    first = create(auth_client, amount="20.00", key=topup.idempotency_key)
    second = post_json(auth_client, CONFIRM, {"payment_intent_id": topup.stripe_payment_intent_id})
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    body = first.json()
    assert {"status", "topup_id", "payment_intent_id", "message"} <= body.keys()
    assert "success" not in body


def test_processing_is_202_processing_from_confirm_too(auth_client, fake_topups):
    topup = fake_topups(TopUp.Status.PENDING)
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": topup.stripe_payment_intent_id})
    assert resp.status_code == 202 and resp.json()["status"] == "processing"


def test_real_success_has_the_same_keys_from_both_endpoints(auth_client, user, stripe_sandbox):
    direct = create(auth_client, amount="10.00", key="direct")
    assert direct.status_code == 200, direct.content
    three_ds = create(auth_client, amount="25.00", pm=stripe_sandbox.card("4000002500003155"), key="3ds").json()
    stripe_sandbox.authenticate(three_ds["payment_intent_id"], three_ds["client_secret"], success=True)
    confirmed = post_json(auth_client, CONFIRM, {"payment_intent_id": three_ds["payment_intent_id"]})
    assert confirmed.status_code == 200
    assert direct.json().keys() == confirmed.json().keys()
    assert direct.json()["status"] == confirmed.json()["status"] == "succeeded"


# --- no-store on JSON ------------------------------------------------------------------------------


def test_json_answers_are_not_stored(auth_client, user, agent, fake_topups):
    topup = fake_topups(TopUp.Status.SUCCEEDED)
    fund(user)
    answers = [
        auth_client.get("/wallet/balance.json"),
        create(auth_client, amount="20.00", key=topup.idempotency_key),
        post_json(auth_client, CONFIRM, {"payment_intent_id": topup.stripe_payment_intent_id}),
        post_json(auth_client, CONFIRM, "not json"),
        post_json(auth_client, f"/agents/{agent.slug}/use/", {"input": "https://a.example/", "request_id": str(uuid.uuid4())}),
        Client().post(CREATE, "{}", content_type="application/json"),  # 401
    ]
    run_id = answers[4].json()["run_id"]
    answers.append(auth_client.get(f"/agents/runs/{run_id}/"))
    for resp in answers:
        assert resp["Content-Type"].startswith("application/json"), resp
        assert resp["Cache-Control"] == "no-store", (resp.status_code, resp.content[:200])


def test_pages_are_not_marked_no_store_by_the_json_rule(auth_client):
    assert "no-store" not in auth_client.get("/wallet/").get("Cache-Control", "")


# --- oversized bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CREATE, CONFIRM, "/agents/checker/use/"])
def test_oversized_json_body_is_a_json_413(auth_client, agent, settings, url):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    resp = post_json(auth_client, url, {"input": "x" * 5000, "amount": "10", "payment_intent_id": "pi_x"})
    assert resp.status_code == 413
    assert resp["Content-Type"].startswith("application/json")
    assert resp.json()["error"] == "The request is too large."


# --- the one amount rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("١٠٠", "100.00"),
        ("۱۰۰", "100.00"),
        ("١٠٠.٥٠", "100.50"),
        ("١٠٠٫٥", "100.50"),  # the Arabic decimal separator
        ("１００", "100.00"),
        (" 75.5 ", "75.50"),
        ("100", "100.00"),
        ("۱۰۰٫", None),
    ],
)
def test_amounts_in_other_digits_are_read_as_ascii(auth_client, monkeypatch, typed, sent):
    seen = {}

    def fake_start(**kw):
        seen["amount"] = kw["amount"]
        raise InvalidAmount("stop here")

    monkeypatch.setattr(services, "start_topup", fake_start)
    resp = create(auth_client, amount=typed)
    if sent is None:
        assert resp.json()["error"] == BAD_AMOUNT and "amount" not in seen
    else:
        assert seen["amount"] == Decimal(sent) and str(seen["amount"]) == sent


@pytest.mark.parametrize(
    "typed", ["1e3", "1E3", "1_000", "+100", "-100", "1 00", "1,000", "0x10", "١e٣", ".5", "100.", "1.234"]
)
def test_amounts_outside_the_rule_are_refused_with_the_pages_message(auth_client, no_stripe_calls, typed):
    resp = create(auth_client, amount=typed)
    assert resp.status_code == 400 and resp.json() == {"error": BAD_AMOUNT, "code": "bad_request"}
    assert not TopUp.objects.exists()


def test_json_number_with_an_exponent_is_refused(auth_client, no_stripe_calls):
    resp = post_json(auth_client, CREATE, '{"amount": 1e3, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}')
    assert resp.status_code == 400 and resp.json() == {"error": BAD_AMOUNT, "code": "bad_request"}


def test_the_page_script_gets_the_servers_messages_from_the_page_config(client):
    """User messages live once on the server: every page carries them in its JSON config block, and
    no script keeps a copy."""
    html = client.get("/accounts/login/").content.decode()
    start = html.index('<script id="page-config" type="application/json">') + len(
        '<script id="page-config" type="application/json">'
    )
    page = json.loads(html[start:html.index("</script>", start)])
    assert BAD_AMOUNT == money.AMOUNT_MESSAGE
    assert page["messages"]["badAmount"] == money.AMOUNT_MESSAGE
    assert page["messages"]["tooLarge"] == money.TOO_LARGE_MESSAGE
    assert page["messages"]["tooLong"] == TOO_LONG and page["messages"]["tooMany"] == TOO_MANY
    assert page["maxIntegerDigits"] == len(str(int(money.MAX_AMOUNT)))
    js = django_settings.BASE_DIR / "static" / "js"
    scripts = {path.name: path.read_text() for path in js.glob("*.js")}
    for text in page["messages"].values():
        for name, script in scripts.items():
            assert text not in script, (name, text)


def test_every_json_answer_says_the_balance_the_same_way(auth_client, user, agent):
    fund(user)
    answers = [
        post_json(auth_client, "/agents/checker/use/", {"input": "https://a.example/", "request_id": str(uuid.uuid4())}).json(),
        auth_client.get("/wallet/balance.json").json(),
        post_json(auth_client, "/agents/checker/use/", {"input": "", "request_id": str(uuid.uuid4())}).json(),
    ]
    for body in answers:
        assert body["balance"] == "7.50" and body["balance_display"] == "7.50 AED", body
        assert not {"new_balance", "new_balance_display", "display"} & body.keys(), body


@pytest.fixture
def no_stripe_calls(monkeypatch):
    def forbidden(**kwargs):
        raise AssertionError("the service must not be called")

    monkeypatch.setattr(services, "start_topup", forbidden)


# --- CSRF cookie -------------------------------------------------------------------------------------


def test_csrf_cookie_is_httponly_and_the_page_carries_the_token(client):
    resp = client.get("/accounts/login/")
    assert resp.cookies["csrftoken"]["httponly"] is True
    assert 'name="csrfmiddlewaretoken"' in resp.content.decode()


def test_scripts_read_the_token_from_the_page_not_the_cookie():
    js = django_settings.BASE_DIR / "static" / "js"
    for name in ("common.js", "topup.js", "agents.js", "history.js"):
        assert "document.cookie" not in (js / name).read_text(), name


# --- agents -------------------------------------------------------------------------------------------


@pytest.fixture
def failing_agent(monkeypatch, agent):
    def fail(text, config):
        raise RunnerError("internal")

    monkeypatch.setitem(REGISTRY, "kit_fail", RunnerSpec("kit_fail", "Fails", fail))
    Agent.objects.filter(pk=agent.pk).update(runner="kit_fail")
    return agent


def test_failed_agent_run_is_an_outcome_not_a_502(auth_client, user, failing_agent):
    fund(user)
    resp = post_json(auth_client, "/agents/checker/use/", {"input": "x", "request_id": str(uuid.uuid4())})
    assert resp.status_code == 200
    body = resp.json()
    # An inline run that fails was never charged: nothing to refund.
    assert body["status"] == "failed" and body["refunded"] is False and body["charged"] == "0.00"
    # The run as the page shows it, rendered by the server from one template.
    assert f'id="run-{body["run_id"]}"' in body["html"] and "run-failed" in body["html"]
    assert "badge-failed" in body["html"] and "The agent could not complete this run." in body["html"]


def test_successful_run_answer_carries_the_rendered_run(auth_client, user, agent):
    fund(user)
    body = post_json(
        auth_client, "/agents/checker/use/", {"input": "https://a.example/", "request_id": str(uuid.uuid4())}
    ).json()
    assert body["status"] == "succeeded"
    assert 'class="check"' in body["html"] and "run-highlight" in body["html"]
    assert "charged 2.50 AED" in body["html"] and body["charged_display"] == "2.50 AED"
    page = auth_client.get(f"/agents/checker/?run={body['run_id']}").content.decode()
    assert body["html"].strip().split("\n", 1)[1].split("<time")[0] in page


def test_unknown_agent_answers_json_404_to_json_calls(auth_client):
    resp = post_json(auth_client, "/agents/nope/use/", {"input": "x", "request_id": str(uuid.uuid4())})
    assert resp.status_code == 404 and resp.json()["error"] == "No such agent."


def test_sensitive_input_comes_from_the_runner_not_the_template(db):
    audit = Agent(name="a", slug="a", description="d", price=Decimal("1"), runner="password_audit")
    phish = Agent(name="p", slug="p", description="d", price=Decimal("1"), runner="phishing_url")
    assert audit.has_sensitive_input and not phish.has_sensitive_input


# --- the kit itself ----------------------------------------------------------------------------------


def _domain_errors():
    from agents import exceptions as agent_errors
    from wallet import exceptions as wallet_errors

    for module in (wallet_errors, agent_errors):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == module.__name__:
                yield value


def test_every_domain_error_answers_for_itself():
    """Each error of both apps is a DomainError with its own status, a snake_case code and a message."""
    codes = {}
    for kind in _domain_errors():
        assert issubclass(kind, DomainError), kind
        if kind.__name__ in {"WalletError", "AgentError"}:
            continue  # the bases: never raised themselves
        assert 400 <= kind.status < 600, kind
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", kind.code), kind
        assert kind.default_message and kind.default_message != DomainError.default_message, kind
        assert codes.setdefault(kind.code, kind) is kind, f"{kind} reuses {codes[kind.code]}'s code"


def test_the_kit_imports_no_app():
    """netcop_hub is the lowest layer: only the composition root (settings, urls) names the apps."""
    kit = django_settings.BASE_DIR / "netcop_hub"
    for path in kit.glob("*.py"):
        if path.name in {"settings.py", "urls.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"wallet", "agents", "authentication"}, (path.name, name)


def test_a_domain_error_a_view_lets_through_is_answered_as_json(rf, settings):
    exc = InsufficientBalance(price=Decimal("5.00"), balance=Decimal("1.50"), topup_amount=Decimal("3.50"))
    request = rf.post("/", "{}", content_type="application/json")
    resp = http.DomainErrorMiddleware(lambda r: None).process_exception(request, exc)
    assert resp.status_code == 402
    assert json.loads(resp.content) == {
        "error": "Not enough balance: this run costs 5.00 AED and your wallet has 1.50 AED (3.50 AED short).",
        "code": "insufficient_balance",
        "balance": "1.50", "balance_display": "1.50 AED",
        "price": "5.00", "price_display": "5.00 AED",
        "shortfall": "3.50", "shortfall_display": "3.50 AED",
        "topup_amount": "3.50", "topup_url": "/wallet/?amount=3.50",
    }


def test_a_domain_error_on_a_page_is_the_error_page_with_our_message_only(user):
    request = RequestFactory().get("/")
    request.user = user
    resp = http.render_error(request, RunNotCancelable("internal detail"))
    body = resp.content.decode()
    assert resp.status_code == 409 and RunNotCancelable.default_message in body
    assert "internal detail" not in body


def test_the_ledger_refusal_is_the_one_insufficient_balance(user):
    """One name for "not enough balance": the ledger's refusal is what agent runs answer 402 with."""
    with pytest.raises(InsufficientBalance) as refused:
        services.debit(user=user, amount=Decimal("1.00"), type=services.TxType.AGENT_USAGE, description="x")
    assert refused.value.status == 402 and refused.value.user_message == "Your balance is too low for this."
    assert refused.value.details() == {}


def test_a_form_post_to_a_json_endpoint_is_still_answered_as_json(auth_client):
    resp = auth_client.post(CONFIRM, {"payment_intent_id": "pi_x"})
    assert resp.status_code == 400 and resp["Content-Type"].startswith("application/json")
    assert resp.json()["code"] == "bad_request"


def test_wants_json_is_one_rule(rf):
    assert http.wants_json(rf.post("/", "{}", content_type="application/json"))
    assert http.wants_json(rf.get("/", HTTP_ACCEPT="application/json"))
    assert not http.wants_json(rf.post("/", {"a": "b"}))
    assert not http.wants_json(rf.get("/", HTTP_ACCEPT="text/html"))


@pytest.mark.parametrize("url", [CREATE, CONFIRM, "/agents/checker/use/"])
def test_a_json_call_without_a_session_is_a_401_with_its_code(agent, url):
    resp = post_json(Client(), url, {"input": "x", "request_id": str(uuid.uuid4())})
    assert resp.status_code == 401 and resp.json()["code"] == "not_authenticated"
    assert resp["Cache-Control"] == "no-store"
