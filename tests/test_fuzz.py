"""Fuzzing every JSON endpoint with hypothesis: never a 5xx, never a leak, never a balance change.

Malformed JSON, every JSON type at top level, wrong types for the expected keys, missing and extra
keys, huge and unicode values, and different Content-Types are thrown at the top-up endpoints, the
Stripe webhook, the paid agent endpoint and the run status poll. Invariants checked per request:
status < 500, a JSON {"error": ...} for 4xx where the endpoint answers JSON, no traceback, secret
key, client secret or exception class name in an error body; and after each whole run: balances
unchanged (or exactly price x succeeded runs for the funded agent pass) and the ledger consistent.
"""

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal, InvalidOperation

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agents.models import Agent, AgentRun
from wallet.health import check_ledger
from wallet.models import StripeEvent, TopUp, WalletTransaction

pytestmark = pytest.mark.django_db

CREATE = "/wallet/create-payment-intent/"
CONFIRM = "/wallet/confirm-payment/"
WEBHOOK = "/wallet/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_fuzz_secret"

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

# --- strategies ----------------------------------------------------------------------------------

CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "text/plain",
    "multipart/form-data",
    "multipart/form-data; boundary=fuzzboundary",
    "application/x-www-form-urlencoded",
    "",  # no Content-Type at all
    "application/octet-stream",
    "APPLICATION/JSON",
)

SPECIAL_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: json.dumps escapes it as "\ud800"
    "\udfff\ud800",
    "\u202eevil\u202c",  # RTL override
    "مرحبا بالعالم",
    "١٠٠",  # Arabic-Indic digits: Decimal() accepts them
    "💸🔥🧨",
    "\ufeff100",
    "1e308",
    "-1e308",
    "1e999999999",
    "-0",
    "-0.00",
    "0",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1_000",
    "0x10",
    "100.001",
    "  100.00  ",
    "100,00",
    "1e-999999",
    "9" * 5000,
    "<script>alert(1)</script>",
    "'; DROP TABLE wallet_wallettransaction; --",
    "%s%s%n{0}",
    "{{ settings.SECRET_KEY }}",
    "../../etc/passwd",
    "null",
    "true",
    "pm_card_visa\x00",
    "pi_",
    "pi_\x00",
    "pi_" + "x" * 300,
)

long_strings = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(["A", "é", "💸", "\u202e", "\x00", "9", "\ud800"]),
    st.integers(min_value=1_000, max_value=100_000),
)
junk_text = st.one_of(st.text(max_size=40), st.sampled_from(SPECIAL_STRINGS), long_strings)

numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=10**18, max_value=10**300),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 0.1, 100.0, 2**63, -(2**63), 10**100]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, junk_text)


def _nested(depth: int, leaf=None, kind: str = "list"):
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.lists(json_values, max_size=3),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    st.builds(_nested, st.integers(1, 200), st.just("100.00"), st.sampled_from(["list", "dict"])),
)
extra_keys = st.dictionaries(st.text(max_size=20), json_values, max_size=3)


def objects(fields: dict) -> st.SearchStrategy[dict]:
    """A JSON object with each expected key optional (valid-looking, junk or a wrong type), plus extras."""
    optional = {name: st.one_of(valid, junk_text, wrong_types) for name, valid in fields.items()}
    return st.builds(lambda extra, known: {**extra, **known}, extra_keys, st.fixed_dictionaries({}, optional=optional))


# Raw bodies that are not what json.dumps would write.
MALFORMED = (
    b"",
    b"{",
    b"}",
    b'{"amount":',
    b'{"amount": 100.00,}',
    b"{'amount': '100.00'}",
    b'{"amount": NaN, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
    b'{"amount": Infinity}',
    b'{"amount": -Infinity}',
    b"NaN",
    b"[" * 100_000,
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"1" + b"0" * 5000,  # longer than Python's int-from-string limit
    b'{"amount": 1' + b"0" * 5000 + b"}",
    b'{"amount": 1e999999999, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
    b'{"amount": "\\ud800", "input": "\\ud800", "request_id": "\\udfff", "payment_intent_id": "\\ud800"}',
    b'{"input": "\\u0000", "payment_intent_id": "pi_\\u0000", "idempotency_key": "\\u0000"}',
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf{}",
    b"\x80\x81\x82",
    b"\xc3\x28",
    b"null",
    b"true",
    b"-0",
    b'"\\u0000"',
    "{}".encode("utf-16"),
    "{}".encode("utf-32"),
)


def encode(value, ascii_only: bool) -> bytes:
    # surrogatepass: a lone surrogate becomes bytes that are not valid UTF-8 when not escaped.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def bodies(fields: dict) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=256),
        st.sampled_from(MALFORMED),
        st.builds(encode, json_values, st.booleans()),
        # Twice: objects with the expected keys get twice the weight of the other shapes.
        st.builds(encode, objects(fields), st.booleans()),
        st.builds(encode, objects(fields), st.booleans()),
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


def balance_of(user) -> Decimal:
    return get_user_model().objects.get(pk=user.pk).wallet_balance


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
def agent(db):
    return Agent.objects.create(
        name="Phishing URL checker",
        slug="phish-fuzz",
        description="Checks links.",
        price=Decimal("2.50"),
        runner="phishing_url",
    )


# --- create-payment-intent -----------------------------------------------------------------------

# A payment method id that can never pay: junk, or ids localstripe does not know.
junk_payment_methods = st.one_of(junk_text, st.text(max_size=20).map(lambda s: "pm_zz" + s)).filter(
    lambda s: not s.strip().startswith(("pm_card", "card_", "tok_", "src_"))
)


def _acceptable_amount(value) -> bool:
    """Whether the server could take this JSON value as a top-up amount (2.00..10000.00, 2 places).

    JSON numbers are parsed as Decimal, so a float 100.0 or a string "1E+2" is a valid 100.00."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    text = json.dumps(value) if not isinstance(value, str) else value.strip()
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    try:
        return amount.is_finite() and 2 <= amount <= 10_000 and amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        return False


# Amounts that start_topup must refuse (wrong type, junk, out of range, too many places).
invalid_amounts = st.one_of(
    wrong_types,
    st.sampled_from(
        ["", "abc", "NaN", "Infinity", "sNaN", "-100.00", "0", "0.00", "1.99", "10000.01", "100.001",
         "1e308", "1e999999999", "9" * 5000, "\x00", "\ud800", "100.00\x00", "١٠٠٠٠٠"]
    ),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    junk_text,
).filter(lambda v: not _acceptable_amount(v))
VALID_AMOUNTS = st.sampled_from(["100.00", "2.00", "10000.00", "50", 100, "  25.50 "])


def create_bodies():
    # Never a working payment method together with a valid amount: no top-up can succeed.
    working = st.fixed_dictionaries(
        {"amount": invalid_amounts, "payment_method_id": st.sampled_from(["pm_card_visa", " pm_card_visa "])},
        optional={"idempotency_key": st.one_of(st.uuids().map(str), junk_text, wrong_types)},
    )
    junk_pm = st.fixed_dictionaries(
        {"amount": st.one_of(VALID_AMOUNTS, invalid_amounts), "payment_method_id": junk_payment_methods},
        optional={"idempotency_key": st.one_of(st.uuids().map(str), junk_text, wrong_types)},
    )
    structured = st.one_of(working, junk_pm).flatmap(
        lambda obj: st.builds(lambda extra: {**extra, **obj}, extra_keys)
    )
    no_pm = objects({"amount": st.one_of(VALID_AMOUNTS, invalid_amounts), "idempotency_key": st.uuids().map(str)})
    return st.one_of(
        st.binary(max_size=256),
        st.sampled_from(MALFORMED),
        st.builds(encode, json_values, st.booleans()),
        st.builds(encode, structured, st.booleans()),
        st.builds(encode, no_pm, st.booleans()),
    )


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

    run()
    snap.assert_unchanged()
    assert not TopUp.objects.filter(status=TopUp.Status.SUCCEEDED).exists()


def test_fuzz_create_payment_intent_logged_out(client, stripe_sandbox, no_limits):
    @FUZZ
    @given(body=create_bodies(), content_type=st.sampled_from(CONTENT_TYPES))
    def run(body, content_type):
        response = send(client, CREATE, body, content_type)
        check_response(response)
        assert response.status_code == 401

    run()
    assert not TopUp.objects.exists()


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

    run()
    snap.assert_unchanged()
    assert balance_of(other) == other_balance
    assert not TopUp.objects.filter(status=TopUp.Status.SUCCEEDED).exists()


# --- the Stripe webhook --------------------------------------------------------------------------


def _signature(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


signature_headers = st.one_of(
    st.none(),  # no header at all
    junk_text.filter(lambda s: "\x00" not in s and not any("\ud800" <= c <= "\udfff" for c in s)),
    st.builds(lambda t, h: f"t={t},v1={h}", st.integers(-(2**63), 2**63), st.text("0123456789abcdef", max_size=64)),
    st.builds(lambda t: f"t={t},v1=", st.integers(0, 2**40)),
    st.sampled_from(["t=,v1=", "v1=deadbeef", "t=1", ",,,", "t=abc,v1=xyz", "t=1e9,v1=00", "v0=abc"]),
)


def test_fuzz_webhook_unsigned_and_garbage_signatures(client, user, stripe_sandbox, settings, no_limits):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    snap = Snapshot(user)
    event_like = st.fixed_dictionaries(
        {"id": st.one_of(st.just("evt_1"), junk_text), "type": st.sampled_from(
            ["payment_intent.succeeded", "charge.refunded", "payment_intent.payment_failed"])},
        optional={"data": st.one_of(wrong_types, st.just({"object": {"id": "pi_123", "amount": 10**12}}))},
    )
    body_strategy = st.one_of(bodies({"id": junk_text, "type": junk_text}), st.builds(encode, event_like, st.booleans()))

    @st.composite
    def signed_wrong(draw):
        """A body with a signature that must not verify: wrong secret, stale timestamp, other body.

        (A future timestamp with a correct signature verifies: Stripe only refuses old ones.)"""
        body = draw(body_strategy)
        kind = draw(st.sampled_from(["secret", "stale", "other-body"]))
        if kind == "secret":
            return body, _signature(body, secret=draw(st.sampled_from(["whsec_other", "", WEBHOOK_SECRET + "x"])))
        if kind == "stale":
            return body, _signature(body, timestamp=int(time.time()) - 3600)
        return body, _signature(body + b" ")

    cases = st.one_of(st.tuples(body_strategy, signature_headers), signed_wrong())

    @FUZZ
    @given(case=cases, content_type=st.sampled_from(CONTENT_TYPES))
    def run(case, content_type):
        body, signature = case
        extra = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
        response = send(client, WEBHOOK, body, content_type, **extra)
        check_response(response)
        assert response.status_code == 400, response.content

    run()
    snap.assert_unchanged()
    assert not StripeEvent.objects.exists()


def test_fuzz_webhook_signed_malformed_events(client, user, stripe_sandbox, settings, no_limits):
    """Correctly signed but malformed events: answered without a 5xx and without moving money.

    Intent events name no existing intent ("pi_..." ids would be fetched from Stripe and a failure
    there is answered 500 on purpose, so that Stripe retries): this covers the shapes, not Stripe.
    """
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
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
        response = send(client, WEBHOOK, body, content_type, HTTP_STRIPE_SIGNATURE=_signature(body))
        check_response(response)

    run()
    snap.assert_unchanged()


def test_fuzz_webhook_without_a_secret_is_404_json(client, settings, no_limits):
    settings.STRIPE_WEBHOOK_SECRET = ""

    @hsettings(FUZZ, max_examples=40)
    @given(body=bodies({"id": junk_text}), signature=signature_headers, content_type=st.sampled_from(CONTENT_TYPES))
    def run(body, signature, content_type):
        extra = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
        response = send(client, WEBHOOK, body, content_type, **extra)
        check_response(response)
        assert response.status_code == 404

    run()
    assert not StripeEvent.objects.exists()


# --- agents: use and run status ------------------------------------------------------------------

AGENT_FIELDS = {
    "input": st.sampled_from(["https://paypal.com.secure-login.xyz/verify", "hello", "http://x.test/" + "a" * 49_000]),
    "request_id": st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.uuids().map(lambda u: f"{{{u}}}")),
}


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

    run()
    snap.assert_unchanged()
    assert balance_of(user) == 0
    assert not AgentRun.objects.exists()


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

    @FUZZ
    @given(
        body=st.one_of(bodies(fields), well_formed),
        content_type=st.one_of(st.just("application/json"), st.sampled_from(CONTENT_TYPES)),
    )
    def run(body, content_type):
        response = send(auth_client, f"/agents/{agent.slug}/use/", body, content_type)
        check_response(response, promises_json=_promises_json(content_type))
        if response.status_code == 200 and response.json()["status"] == "failed":
            # The runner failed on this input: a finished run whose price was refunded.
            answer = response.json()
            assert answer["refunded"] is True and answer["charged"] == "0.00"
            run_row = AgentRun.objects.get(pk=answer["run_id"])
            assert run_row.status == AgentRun.Status.FAILED and run_row.refund_transaction_id is not None
            failed_answers.add(answer["run_id"])
            return
        if response.status_code == 200:
            answer = response.json()
            assert answer["status"] == "succeeded" and answer["charged"] == "2.50"
            seen_runs.add(answer["run_id"])
            if not answer["duplicate"]:
                assert answer["run_id"] not in first_answers, "a run answered as new twice"
                first_answers.add(answer["run_id"])

    run()
    runs = AgentRun.objects.filter(user=user)
    succeeded = {str(r) for r in runs.filter(status=AgentRun.Status.SUCCEEDED).values_list("id", flat=True)}
    failed = runs.filter(status=AgentRun.Status.FAILED)
    assert runs.count() == len(succeeded) + failed.count(), "a run left charged (not finished, not refunded)"
    assert not failed.filter(refund_transaction__isnull=True).exists()
    # Every JSON 200 is one succeeded run; form posts (redirects) may have charged runs too.
    assert seen_runs <= succeeded
    assert first_answers <= succeeded
    assert failed_answers <= {str(r) for r in failed.values_list("id", flat=True)}
    assert succeeded, "no run succeeded: the funded pass did not exercise charging"
    # Exactly one charge per run, one refund per failed run: balance = start - price x succeeded.
    assert balance_of(user) == start - agent.price * len(succeeded)
    ledger = WalletTransaction.objects.filter(user=user)
    assert ledger.filter(type="agent_usage").count() == runs.count()
    assert ledger.filter(type="agent_refund").count() == failed.count()
    assert_ledger_clean()


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

    run()
    snap.assert_unchanged()
    assert balance_of(other) == other_balance


# --- rate limits on, CSRF enforced ---------------------------------------------------------------


def test_fuzz_with_rate_limits_on_never_5xx(auth_client, user, agent, stripe_sandbox, settings):
    settings.RATE_LIMITS_ENABLED = True
    settings.TOPUP_RATE_LIMIT = "5/1m"
    settings.AGENT_RATE_LIMIT = "5/1m"
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
        statuses.append(response.status_code)

    run()
    assert 429 in statuses, "the limits never engaged"
    snap.assert_unchanged()


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
