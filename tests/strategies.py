"""Hypothesis strategies for fuzzing the JSON endpoints (used by tests/security/test_fuzz.py).

Amount strategies read the limits from settings when called (TOPUP_MIN_AMOUNT, TOPUP_MAX_AMOUNT,
WALLET_MAX_BALANCE), so they follow the configuration instead of restating it.
"""

import json
import time
from decimal import Decimal, InvalidOperation

from django.conf import settings
from hypothesis import strategies as st

from tests.helpers import WEBHOOK_SECRET, sign_webhook

CENT = Decimal("0.01")
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



# A payment method id that can never pay: junk, or ids localstripe does not know.
junk_payment_methods = st.one_of(junk_text, st.text(max_size=20).map(lambda s: "pm_zz" + s)).filter(
    lambda s: not s.strip().startswith(("pm_card", "card_", "tok_", "src_"))
)


def topup_limits() -> tuple[Decimal, Decimal]:
    """The smallest and largest top-up an empty wallet may take, from settings."""
    low = Decimal(settings.TOPUP_MIN_AMOUNT)
    high = min(Decimal(settings.TOPUP_MAX_AMOUNT), Decimal(settings.WALLET_MAX_BALANCE))
    return low, high


def acceptable_amount(value) -> bool:
    """Whether the server could take this JSON value as a top-up amount (within the limits, 2 places).

    JSON numbers are parsed as Decimal, so a float 100.0 or a string "1E+2" is a valid 100.00."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    text = json.dumps(value) if not isinstance(value, str) else value.strip()
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    low, high = topup_limits()
    try:
        return amount.is_finite() and low <= amount <= high and amount == amount.quantize(CENT)
    except InvalidOperation:
        return False


def invalid_amounts() -> st.SearchStrategy:
    """Amounts that start_topup must refuse (wrong type, junk, out of range, too many places)."""
    low, high = topup_limits()
    edges = [str(low - CENT), str(high + CENT), str(Decimal(settings.WALLET_MAX_BALANCE) + CENT)]
    return st.one_of(
        wrong_types,
        st.sampled_from(
            ["", "abc", "NaN", "Infinity", "sNaN", "-100.00", "0", "0.00", *edges, "100.001",
             "1e308", "1e999999999", "9" * 5000, "\x00", "\ud800", "100.00\x00", "١٠٠٠٠٠"]
        ),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        junk_text,
    ).filter(lambda v: not acceptable_amount(v))


def valid_amounts() -> st.SearchStrategy:
    """Amounts within the limits, written the ways a client might (the edges, a JSON number, spaces)."""
    low, high = topup_limits()
    typical = [v for v in ("100.00", "50", 100, "  25.50 ") if acceptable_amount(v)]
    return st.sampled_from([f"{low}", f"{high}", *typical])


def create_bodies():
    # Never a working payment method together with a valid amount: no top-up can succeed.
    invalid = invalid_amounts()
    valid_or_not = st.one_of(valid_amounts(), invalid)
    working = st.fixed_dictionaries(
        {"amount": invalid, "payment_method_id": st.sampled_from(["pm_card_visa", " pm_card_visa "])},
        optional={"idempotency_key": st.one_of(st.uuids().map(str), junk_text, wrong_types)},
    )
    junk_pm = st.fixed_dictionaries(
        {"amount": valid_or_not, "payment_method_id": junk_payment_methods},
        optional={"idempotency_key": st.one_of(st.uuids().map(str), junk_text, wrong_types)},
    )
    structured = st.one_of(working, junk_pm).flatmap(
        lambda obj: st.builds(lambda extra: {**extra, **obj}, extra_keys)
    )
    no_pm = objects({"amount": valid_or_not, "idempotency_key": st.uuids().map(str)})
    return st.one_of(
        st.binary(max_size=256),
        st.sampled_from(MALFORMED),
        st.builds(encode, json_values, st.booleans()),
        st.builds(encode, structured, st.booleans()),
        st.builds(encode, no_pm, st.booleans()),
    )



signature_headers = st.one_of(
    st.none(),  # no header at all
    junk_text.filter(lambda s: "\x00" not in s and not any("\ud800" <= c <= "\udfff" for c in s)),
    st.builds(lambda t, h: f"t={t},v1={h}", st.integers(-(2**63), 2**63), st.text("0123456789abcdef", max_size=64)),
    st.builds(lambda t: f"t={t},v1=", st.integers(0, 2**40)),
    st.sampled_from(["t=,v1=", "v1=deadbeef", "t=1", ",,,", "t=abc,v1=xyz", "t=1e9,v1=00", "v0=abc"]),
)



AGENT_FIELDS = {
    "input": st.sampled_from(["https://paypal.com.secure-login.xyz/verify", "hello", "http://x.test/" + "a" * 49_000]),
    "request_id": st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.uuids().map(lambda u: f"{{{u}}}")),
}


def wrongly_signed(body_strategy) -> st.SearchStrategy[tuple[bytes, str]]:
    """A body with a signature that must not verify: wrong secret, stale timestamp, other body.

    (A future timestamp with a correct signature verifies: Stripe only refuses old ones.)"""

    @st.composite
    def build(draw):
        body = draw(body_strategy)
        kind = draw(st.sampled_from(["secret", "stale", "other-body"]))
        if kind == "secret":
            return body, sign_webhook(body, secret=draw(st.sampled_from(["whsec_other", "", WEBHOOK_SECRET + "x"])))
        if kind == "stale":
            return body, sign_webhook(body, timestamp=int(time.time()) - 3600)
        return body, sign_webhook(body + b" ")

    return build()
