"""Fuzzing every JSON endpoint with hypothesis: never a 5xx, never a leak, never a balance change.

Malformed JSON, every JSON type at top level, wrong types for the expected keys, missing and extra
keys, huge and unicode values, and different Content-Types are thrown at the top-up endpoints, the
Stripe webhook, the paid agent endpoint and the run status poll. Invariants checked per request:
status < 500, a JSON {"error": ...} for 4xx where the endpoint answers JSON, no traceback, secret
key, client secret or exception class name in an error body; and after every example (so that
hypothesis can shrink a failure to the one request that caused it): balances unchanged (or exactly
price x succeeded runs for the funded agent pass) and the ledger consistent. Strategies live in
tests/strategies.py; amount limits come from settings.
"""

import json
import uuid
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agents.models import AgentRun
from netcop_hub.config import parse_rate
from tests.helpers import CONFIRM_URL, CREATE_URL, WEBHOOK_URL, balance_of, sign_webhook
from tests.strategies import (
    AGENT_FIELDS,
    CONTENT_TYPES,
    MALFORMED,
    bodies,
    create_bodies,
    encode,
    json_values,
    junk_text,
    numbers,
    objects,
    signature_headers,
    wrong_types,
    wrongly_signed,
)
from wallet.health import check_ledger
from wallet.models import StripeEvent, TopUp, WalletTransaction

pytestmark = pytest.mark.django_db

CREATE = CREATE_URL
CONFIRM = CONFIRM_URL
WEBHOOK = WEBHOOK_URL

FUZZ = hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Exception class names that must never reach a client (a leaked repr or Django's debug page).
LEAK_MARKERS = (
    "Traceback",
    "sk_test",
    "client_secret",
    "whsec_",
    "Error:",
    "Exception",
    "IntegrityError",
    "DataError",
    "OperationalError",
    "ValueError",
    "TypeError",
    "KeyError",
    "AttributeError",
    "RecursionError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "InvalidOperation",
    "DoesNotExist",
    "StripeError",
    "InvalidRequestError",
    "SignatureVerificationError",
    "JSONDecodeError",
)

# --- helpers -------------------------------------------------------------------------------------


def send(client, url, body: bytes, content_type: str, **extra):
    """POST raw bytes with exactly this Content-Type ("" sends none), even with an empty body."""
    response = client.generic("POST", url, data=body, content_type=content_type, CONTENT_TYPE=content_type, **extra)
    response.fuzz_body_size = len(body)
    return response


def check_response(response, *, promises_json: bool = True):
    assert response.status_code < 500, (response.status_code, response.content[:500])
    content = response.content.decode("utf-8", "replace")
    assert "Traceback" not in content
    assert "sk_test" not in content
    if response.status_code >= 400:
        for marker in LEAK_MARKERS:
            assert marker not in content, (marker, content[:500])
        too_big = getattr(response, "fuzz_body_size", 0) > django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if too_big and not promises_json:
            # A form body over the limit: Django refuses it before the view runs (its own 400 page).
            assert response.status_code in (400, 413), response.status_code
        elif promises_json:
            assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
            body = json.loads(response.content)
            assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body


def assert_ledger_clean():
    report = check_ledger()
    assert report.ok, report.mismatches


class Snapshot:
    """The user's balance and the ledger size before a fuzz run."""

    def __init__(self, user):
        self.user = user
        self.balance = balance_of(user)
        self.ledger_rows = WalletTransaction.objects.count()

    def assert_unchanged(self):
        assert balance_of(self.user) == self.balance
        assert WalletTransaction.objects.count() == self.ledger_rows
        assert_ledger_clean()


@pytest.fixture
def no_limits(settings):
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture
def agent(make_agent):
    return make_agent(slug="phish-fuzz", price=Decimal("2.50"))


# --- create-payment-intent -----------------------------------------------------------------------

def test_fuzz_create_payment_intent(auth_client, user, stripe_sandbox, no_limits):
    snap = Snapshot(user)

    @FUZZ
    @given(body=create_bodies(), content_type=st.sampled_from(CONTENT_TYPES))
    @example(body=b"[" * 100_000, content_type="application/json")
    @example(body=b'{"amount": "' + b"9" * 3_000_000 + b'"}', content_type="application/json")
    @example(body=b'{"amount": 1e999999999, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
             content_type="application/json")
    @example(body=b'{"amount": "-1e999999999", "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
             content_type="application/json")
    @example(body=b'{"amount": "100.00", "payment_method_id": "pm_zz_nope", "idempotency_key": "k"}',
             content_type="application/json")
    @example(body=b'{"amount": "100.00", "payment_method_id": "\\u00f9\\udb7e\\udcc7", "idempotency_key": "k"}',
             content_type="application/json")
    @example(body=encode({"amount": "100.00", "payment_method_id": "pm_zz_nope", "idempotency_key": "\x00"}, True),
             content_type="application/json")
    @example(body=encode({"amount": "100.00", "payment_method_id": "pm_zz_nope", "idempotency_key": "\ud800"}, True),
             content_type="application/json")
    def run(body, content_type):
        check_response(send(auth_client, CREATE, body, content_type))
        snap.assert_unchanged()
        assert not TopUp.objects.filter(status=TopUp.Status.SUCCEEDED).exists()

    run()


def test_fuzz_create_payment_intent_logged_out(client, stripe_sandbox, no_limits):
    @FUZZ
    @given(body=create_bodies(), content_type=st.sampled_from(CONTENT_TYPES))
    def run(body, content_type):
        response = send(client, CREATE, body, content_type)
        check_response(response)
        assert response.status_code == 401
        assert not TopUp.objects.exists()

    run()


# --- confirm-payment -----------------------------------------------------------------------------


def test_fuzz_confirm_payment(auth_client, user, make_user, stripe_sandbox, no_limits):
    # Real intents to aim at: the user's own (unpaid, waiting for 3-D Secure) and someone else's.
    other = make_user(email="bob@example.com")
    other_client = Client()
    other_client.force_login(other)
    intents = []
    for owner_client, key in ((auth_client, "mine"), (other_client, "theirs")):
        resp = owner_client.post(
            CREATE,
            json.dumps({"amount": "25.00", "payment_method_id": stripe_sandbox.card("4000002500003155"),
                        "idempotency_key": key}),
            content_type="application/json",
        )
        assert resp.status_code == 200 and resp.json()["status"] == "requires_action", resp.content
        intents.append(resp.json()["payment_intent_id"])
    snap, other_balance = Snapshot(user), balance_of(other)

    intent_ids = st.one_of(
        st.sampled_from(intents),
        st.sampled_from(intents).map(lambda i: f" {i} "),
        st.sampled_from(intents).map(lambda i: i + "\x00"),
        junk_text,
        wrong_types,
    )
    body_strategy = st.one_of(
        bodies({"payment_intent_id": intent_ids}),
        st.builds(encode, st.fixed_dictionaries({"payment_intent_id": intent_ids}), st.booleans()),
    )

    @FUZZ
    @given(body=body_strategy, content_type=st.sampled_from(CONTENT_TYPES))
    @example(body=b'{"payment_intent_id": "pi_\\u0000"}', content_type="application/json")
    @example(body=b'{"payment_intent_id": "pi_\\ud800"}', content_type="application/json")
    def run(body, content_type):
        check_response(send(auth_client, CONFIRM, body, content_type))
        snap.assert_unchanged()
        assert balance_of(other) == other_balance
        assert not TopUp.objects.filter(status=TopUp.Status.SUCCEEDED).exists()

    run()


# --- the Stripe webhook --------------------------------------------------------------------------


def test_fuzz_webhook_unsigned_and_garbage_signatures(client, user, stripe_sandbox, webhook_secret, no_limits):
    snap = Snapshot(user)
    event_like = st.fixed_dictionaries(
        {"id": st.one_of(st.just("evt_1"), junk_text), "type": st.sampled_from(
            ["payment_intent.succeeded", "charge.refunded", "payment_intent.payment_failed"])},
        optional={"data": st.one_of(wrong_types, st.just({"object": {"id": "pi_123", "amount": 10**12}}))},
    )
    body_strategy = st.one_of(bodies({"id": junk_text, "type": junk_text}), st.builds(encode, event_like, st.booleans()))

    cases = st.one_of(st.tuples(body_strategy, signature_headers), wrongly_signed(body_strategy))

    @FUZZ
    @given(case=cases, content_type=st.sampled_from(CONTENT_TYPES))
    def run(case, content_type):
        body, signature = case
        extra = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
        response = send(client, WEBHOOK, body, content_type, **extra)
        check_response(response)
        assert response.status_code == 400, response.content
        snap.assert_unchanged()
        assert not StripeEvent.objects.exists()

    run()


def test_fuzz_webhook_signed_malformed_events(client, user, stripe_sandbox, webhook_secret, no_limits):
    """Correctly signed but malformed events: answered without a 5xx and without moving money.

    Intent events name no existing intent ("pi_..." ids would be fetched from Stripe and a failure
    there is answered 500 on purpose, so that Stripe retries): this covers the shapes, not Stripe.
    """
    snap = Snapshot(user)
    not_an_intent = st.one_of(junk_text, wrong_types).filter(
        lambda v: not (isinstance(v, str) and v.startswith("pi_"))
    )
    data = st.one_of(
        wrong_types,
        st.fixed_dictionaries({}, optional={"object": st.one_of(
            wrong_types,
            objects({"id": not_an_intent, "payment_intent": st.one_of(not_an_intent, st.just({"id": "pi_nope"})),
                     "amount_refunded": st.one_of(numbers, junk_text), "currency": junk_text}),
        )}),
    )
    events = objects({
        "id": st.one_of(st.uuids().map(lambda u: f"evt_{u.hex}"), junk_text),
        "type": st.one_of(
            st.sampled_from(["payment_intent.succeeded", "payment_intent.canceled", "charge.refunded",
                             "customer.created", ""]),
            junk_text,
        ),
        "data": data,
        "object": st.one_of(st.just("event"), junk_text),
    })
    body_strategy = st.one_of(
        st.builds(encode, json_values, st.booleans()),
        st.builds(encode, events, st.booleans()),
        st.sampled_from(MALFORMED),
        st.binary(max_size=128),
    )

    @FUZZ
    @given(body=body_strategy, content_type=st.sampled_from(CONTENT_TYPES))
    @example(body=b"[" * 100_000, content_type="application/json")
    @example(body=b"[1, 2]", content_type="application/json")
    @example(body=b'{"type": "charge.refunded", "id": "evt_x1", "data": "Inf", "object": -5}', content_type="")
    @example(body=b'{"type": "payment_intent.succeeded", "id": "evt_x2", "data": {"object": [1]}}', content_type="")
    @example(body=b'{"id": "evt_\\u0000", "type": "customer.created"}', content_type="application/json")
    @example(body=b'{"id": "evt_\\ud800", "type": "customer.created"}', content_type="application/json")
    @example(body=b'{"id": "evt_1", "type": "customer.created", "data": {"object": {"x": "\\u0000\\ud800"}}}',
             content_type="application/json")
    @example(body=b'{"id": "evt_' + b"x" * 300 + b'", "type": "customer.created"}', content_type="application/json")
    def run(body, content_type):
        response = send(client, WEBHOOK, body, content_type, HTTP_STRIPE_SIGNATURE=sign_webhook(body))
        check_response(response)
        snap.assert_unchanged()

    run()


def test_fuzz_webhook_without_a_secret_is_404_json(client, settings, no_limits):
    settings.STRIPE_WEBHOOK_SECRET = ""

    @hsettings(FUZZ, max_examples=40)
    @given(body=bodies({"id": junk_text}), signature=signature_headers, content_type=st.sampled_from(CONTENT_TYPES))
    def run(body, signature, content_type):
        extra = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
        response = send(client, WEBHOOK, body, content_type, **extra)
        check_response(response)
        assert response.status_code == 404
        assert not StripeEvent.objects.exists()

    run()


# --- agents: use and run status ------------------------------------------------------------------

def _promises_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip() == "application/json"


def test_fuzz_agent_use_without_funds(auth_client, user, agent, no_limits):
    snap = Snapshot(user)
    assert snap.balance == 0

    @FUZZ
    @given(body=bodies(AGENT_FIELDS), content_type=st.sampled_from(CONTENT_TYPES))
    @example(body=b"[" * 100_000, content_type="application/json")
    @example(body=b'{"input": "\\u0000", "request_id": "\\ud800"}', content_type="application/json")
    def run(body, content_type):
        response = send(auth_client, f"/agents/{agent.slug}/use/", body, content_type)
        check_response(response, promises_json=_promises_json(content_type))
        assert response.status_code != 200
        snap.assert_unchanged()
        assert balance_of(user) == 0
        assert not AgentRun.objects.exists()

    run()


def test_fuzz_agent_use_with_funds_charges_once_per_success(auth_client, make_user, agent, no_limits):
    user = make_user(email="rich@example.com", balance=Decimal("1000.00"))
    auth_client.force_login(user)
    start = balance_of(user)
    # A small pool of request ids so that duplicates (which must not charge again) happen often.
    pool = [str(uuid.uuid4()) for _ in range(5)]
    fields = {**AGENT_FIELDS, "request_id": st.one_of(st.sampled_from(pool), AGENT_FIELDS["request_id"])}
    # Well-formed submissions often enough that runs are charged (and replayed) during the pass.
    well_formed = st.builds(
        encode,
        st.fixed_dictionaries({"input": st.one_of(AGENT_FIELDS["input"], junk_text), "request_id": fields["request_id"]}),
        st.booleans(),
    )
    first_answers: set[str] = set()
    seen_runs: set[str] = set()
    failed_answers: set[str] = set()
    price = f"{agent.price:.2f}"

    def assert_one_charge_per_success() -> set[str]:
        runs = AgentRun.objects.filter(user=user)
        succeeded = {str(r) for r in runs.filter(status=AgentRun.Status.SUCCEEDED).values_list("id", flat=True)}
        failed = runs.filter(status=AgentRun.Status.FAILED)
        assert runs.count() == len(succeeded) + failed.count(), "a run left unfinished"
        # An inline run is charged with its result: a failed one has neither a charge nor a refund.
        assert not failed.filter(charge_transaction__isnull=False).exists()
        assert not failed.filter(refund_transaction__isnull=False).exists()
        # Exactly one charge per succeeded run: balance = start - price x succeeded.
        assert balance_of(user) == start - agent.price * len(succeeded)
        ledger = WalletTransaction.objects.filter(user=user)
        assert ledger.filter(type="agent_usage").count() == len(succeeded)
        assert ledger.filter(type="agent_refund").count() == 0
        assert_ledger_clean()
        return succeeded

    @FUZZ
    @given(
        body=st.one_of(bodies(fields), well_formed),
        content_type=st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES)),
    )
    # Always one valid run (then its replay): the pass must exercise charging, whatever is drawn.
    @example(
        body=encode({"input": "https://paypal.com.secure-login.xyz/verify", "request_id": pool[0]}, True),
        content_type="application/json",
    )
    @example(
        body=encode({"input": "https://paypal.com.secure-login.xyz/verify", "request_id": pool[0]}, True),
        content_type="application/json",
    )
    def run(body, content_type):
        response = send(auth_client, f"/agents/{agent.slug}/use/", body, content_type)
        check_response(response, promises_json=_promises_json(content_type))
        if response.status_code == 200 and response.json()["status"] == "failed":
            # The runner failed on this input: a finished run that was never charged.
            answer = response.json()
            assert answer["refunded"] is False and answer["charged"] == "0.00"
            run_row = AgentRun.objects.get(pk=answer["run_id"])
            assert run_row.status == AgentRun.Status.FAILED and run_row.charge_transaction_id is None
            failed_answers.add(answer["run_id"])
        elif response.status_code == 200:
            answer = response.json()
            assert answer["status"] == "succeeded" and answer["charged"] == price
            seen_runs.add(answer["run_id"])
            if not answer["duplicate"]:
                assert answer["run_id"] not in first_answers, "a run answered as new twice"
                first_answers.add(answer["run_id"])
        assert_one_charge_per_success()

    run()
    succeeded = assert_one_charge_per_success()
    failed = AgentRun.objects.filter(user=user, status=AgentRun.Status.FAILED)
    # Every JSON 200 is one succeeded run; form posts (redirects) may have charged runs too.
    assert seen_runs <= succeeded
    assert first_answers <= succeeded
    assert failed_answers <= {str(r) for r in failed.values_list("id", flat=True)}
    assert succeeded, "no run succeeded: the funded pass did not exercise charging"


def test_fuzz_run_status(auth_client, user, make_user, agent, no_limits):
    other = make_user(email="carol@example.com", balance=Decimal("10.00"))
    other_client = Client()
    other_client.force_login(other)
    theirs = other_client.post(
        f"/agents/{agent.slug}/use/",
        json.dumps({"input": "https://example.com", "request_id": str(uuid.uuid4())}),
        content_type="application/json",
    ).json()["run_id"]
    snap, other_balance = Snapshot(user), balance_of(other)

    junk_paths = st.text(max_size=60).map(lambda s: "/agents/runs/" + s.replace("\x00", "") + "/")

    @FUZZ
    @given(
        path=st.one_of(
            st.uuids().map(lambda u: f"/agents/runs/{u}/"),
            st.just(f"/agents/runs/{theirs}/"),
            st.just(f"/agents/runs/{theirs.upper()}/"),
            junk_paths,
        ),
        query=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
        accept=st.sampled_from(["application/json", "*/*", "text/html", ""]),
    )
    def run(path, query, accept):
        response = auth_client.get(path, query, HTTP_ACCEPT=accept)
        assert response.status_code in (200, 404), (path, response.status_code)
        check_response(response, promises_json=False)
        assert theirs not in response.content.decode("utf-8", "replace") or response.status_code == 404
        snap.assert_unchanged()
        assert balance_of(other) == other_balance

    run()


# --- rate limits on, CSRF enforced ---------------------------------------------------------------


def test_fuzz_with_rate_limits_on_never_5xx(auth_client, user, agent, stripe_sandbox, settings):
    settings.RATE_LIMITS_ENABLED = True
    settings.TOPUP_RATE_LIMIT = parse_rate("5/1m")
    settings.AGENT_RATE_LIMIT = parse_rate("5/1m")
    snap = Snapshot(user)
    statuses = []

    @hsettings(FUZZ, max_examples=60)
    @given(
        url=st.sampled_from([CREATE, CONFIRM, f"/agents/{agent.slug}/use/"]),
        body=create_bodies(),
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    def run(url, body, content_type):
        response = send(auth_client, url, body, content_type)
        json_answer = url != f"/agents/{agent.slug}/use/" or _promises_json(content_type)
        if response.status_code == 429:
            # The limiter answers JSON to JSON requests (or Accept: application/json), else a page.
            json_answer = _promises_json(content_type)
        check_response(response, promises_json=json_answer)
        snap.assert_unchanged()
        statuses.append(response.status_code)

    run()
    assert 429 in statuses, "the limits never engaged"


@pytest.mark.parametrize("url", [CREATE, CONFIRM, "/agents/phish-fuzz/use/"])
@pytest.mark.parametrize(
    ("body", "content_type", "headers"),
    [
        (b'{"amount": "100.00", "payment_method_id": "pm_card_visa", "idempotency_key": "k"}', "application/json", {}),
        (b"\x00\xff junk", "application/json", {}),
        (b"amount=100&payment_method_id=pm_card_visa", "text/plain", {"HTTP_ACCEPT": "application/json"}),
    ],
)
def test_csrf_enforced_junk_without_token_is_403_json(user, agent, stripe_sandbox, settings, url, body,
                                                     content_type, headers):
    settings.RATE_LIMITS_ENABLED = False
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    snap = Snapshot(user)
    response = send(client, url, body, content_type, **headers)
    assert response.status_code == 403
    check_response(response)
    snap.assert_unchanged()
    assert not TopUp.objects.exists() and not AgentRun.objects.exists()
