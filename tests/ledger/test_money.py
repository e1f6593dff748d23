"""The one amount rule (wallet.money): the parser, the services that take text, the endpoints and forms."""

import json
from decimal import Decimal

import pytest

from wallet import money, payments, services
from wallet.exceptions import InvalidAmount
from wallet.models import TopUp, TxType, WalletTransaction

ACCEPTED = [
    ("100", "100.00"),
    ("100.5", "100.50"),
    ("100.50", "100.50"),
    ("0100.00", "100.00"),
    ("  25.50 ", "25.50"),
    ("\t7\n", "7.00"),
    ("\u0665\u0660", "50.00"),  # ٥٠ Arabic-Indic
    ("\u06f1\u06f2\u066b\u06f5", "12.50"),  # ۱۲٫۵ Extended Arabic-Indic with the Arabic decimal separator
    ("\uff11\uff10\uff10", "100.00"),  # １００ full-width
    ("\uff11\uff10\uff0e\uff15\uff10", "10.50"),  # １０．５０
    (100, "100.00"),
    (Decimal("100.50"), "100.50"),  # a JSON number 100.50
    ("9999999999.99", "9999999999.99"),
]

REFUSED = [
    "1e2", "1E2", "1e-2", "1_0", "+12", "-5", "\u22125", "1 000", "1\u00a0000", "1,000", "1.000,50", "1'000",
    "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "1.234", "1.500", ".5", "5.", "", "   ", "abc",
    "0x10", "١,٠٠٠", "\u0967\u0966\u0966",  # Devanagari digits: not in the rule even though Decimal() takes them
    "10\x00", "\ud800", Decimal("1E+2"), Decimal("1.234"), Decimal("NaN"), -5, 1.5, True, None, ["1"], {"a": 1},
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_plain_decimals_are_accepted(raw, expected):
    assert money.parse_amount(raw) == Decimal(expected)
    assert str(money.parse_amount(raw)) == expected


@pytest.mark.parametrize("raw", REFUSED, ids=repr)
def test_everything_else_is_refused_with_one_message(raw):
    with pytest.raises(InvalidAmount) as info:
        money.parse_amount(raw)
    assert str(info.value) == money.AMOUNT_MESSAGE


@pytest.mark.parametrize("raw", ["10000000000", "9" * 5000, "1" + "0" * 3_000_000, "\uff19" * 50])
def test_huge_values_are_too_large_not_a_crash(raw):
    with pytest.raises(InvalidAmount, match="too large"):
        money.parse_amount(raw)


@pytest.mark.parametrize(("raw", "expected"), [("-5", "-5.00"), ("\u221210.50", "-10.50"), ("-0", "0.00"), ("3", "3.00")])
def test_signed_allows_a_leading_minus_only(raw, expected):
    assert money.parse_amount(raw, signed=True) == Decimal(expected)
    with pytest.raises(InvalidAmount, match="Enter an amount like"):
        money.parse_amount("+3", signed=True)
    with pytest.raises(InvalidAmount, match="Enter an amount like"):
        money.parse_amount("--3", signed=True)


@pytest.mark.parametrize("value", [Decimal("1E+999999999"), Decimal("-1E+999999999"), 10**30])
def test_to_money_refuses_astronomical_numbers_without_overflow(value):
    with pytest.raises(InvalidAmount, match="too large"):
        money.to_money(value)


def test_format_money_uses_the_configured_currency_and_a_real_minus(settings):
    assert money.format_money(Decimal("1234.5")) == "1,234.50 AED"
    assert money.format_money(Decimal("-99999")) == "\u221299,999.00 AED"
    assert money.format_money(Decimal("0")) == "0.00 AED"
    settings.WALLET_CURRENCY = "EUR"
    assert money.format_money(Decimal("2")) == "2.00 EUR"
    assert money.format_money(Decimal("2"), "USD") == "2.00 USD"


def test_no_hard_coded_currency_in_python():
    """WALLET_CURRENCY is honoured: no "AED" string in product code outside money.py and settings.

    Docstrings may name the default currency. Model help_text is left out: it lives in migrations.
    """
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/**/*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".venv/", "tests/", "bench/")) or "/migrations/" in rel:
            continue
        if rel in ("wallet/money.py", "netcop_hub/settings.py"):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body and isinstance(node.body[0], ast.Expr)
        }
        help_texts = {id(kw.value) for kw in ast.walk(tree) if isinstance(kw, ast.keyword) and kw.arg == "help_text"}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant) and isinstance(node.value, str) and "AED" in node.value
                and id(node) not in docstrings and id(node) not in help_texts
            ):
                offenders.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert offenders == []


# --- the services apply the same rule to text -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "credit_refusal"),
    [("1e2", "Enter an amount like"), ("1_0", "Enter an amount like"), ("+12", "Enter an amount like"),
     ("-5", "greater than zero"), ("1 000", "Enter an amount like"), ("1,000", "Enter an amount like"),
     ("NaN", "Enter an amount like"), ("1.001", "Enter an amount like")],
)
def test_services_refuse_what_the_rule_refuses(user, raw, credit_refusal):
    with pytest.raises(InvalidAmount, match=credit_refusal):
        services.credit(user=user, amount=raw, type=TxType.ADJUSTMENT)
    with pytest.raises(InvalidAmount, match="Enter an amount like"):
        services.validate_topup_amount(raw)
    assert not WalletTransaction.objects.exists()


@pytest.mark.django_db
def test_services_take_arabic_and_full_width_digits(user, make_user):
    assert services.credit(user=user, amount="\u0665\u0660", type=TxType.ADJUSTMENT).amount == Decimal("50.00")
    assert services.validate_topup_amount("\uff11\uff10\uff10") == Decimal("100.00")
    staff = make_user(is_staff=True)
    row = services.adjust(user=user, amount="\u221210.50", reason="fix", staff=staff)
    assert row.amount == Decimal("-10.50") and row.balance_after == Decimal("39.50")


# --- create-payment-intent ------------------------------------------------------------------------

CREATE = "/wallet/create-payment-intent/"


@pytest.fixture
def no_stripe(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("Stripe must not be called")

    for name in ("create_and_confirm_intent", "retrieve_intent", "cancel_intent", "list_recent_intents"):
        monkeypatch.setattr(payments, name, forbidden)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amount_json",  # the amount exactly as it appears in the request body
    ['"1e2"', "1e2", "1E+2", '"1_0"', '"+12"', '"-5"', "-5", '"1 000"', '"1,000"', '"12.345"', "12.345",
     '"Infinity"', "1e999999999", '"' + "9" * 100 + '"', "true", "null", '["100"]'],
)
def test_create_payment_intent_refuses_without_calling_stripe(auth_client, no_stripe, amount_json):
    body = f'{{"amount": {amount_json}, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}}'
    resp = auth_client.post(CREATE, body, content_type="application/json")
    assert resp.status_code == 400, resp.content
    # Too many digits is out of the top-up range, and the page says so in the range's words.
    out_of_range = "Enter an amount between 2.00 AED and 10,000.00 AED."
    assert resp.json()["error"] in (money.AMOUNT_MESSAGE, out_of_range)
    assert not TopUp.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "expected"), [("\u0665\u0660", "50.00"), ("\uff11\uff10\uff10", "100.00")])
def test_create_payment_intent_takes_other_digit_forms(auth_client, stripe_sandbox, raw, expected):
    resp = auth_client.post(
        CREATE,
        json.dumps({"amount": raw, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}),
        content_type="application/json",
    )
    assert resp.status_code == 200, resp.content
    assert TopUp.objects.get().amount == Decimal(expected)


# --- the admin's refund form ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "ok"), [("1e1", False), ("+5", False), ("\u0665", True)])
def test_refund_form_follows_the_rule(raw, ok):
    from wallet.admin_actions import RefundForm

    form = RefundForm({"amount": raw, "customer_reason": "duplicate", "reason": "r", "request_key": "2b1f3a5e-2f70-4b2f-8f0e-7d0d1c1b1a19"})
    assert form.is_valid() is ok
    if ok:
        assert form.cleaned_data["amount"] == Decimal("5.00")
    else:
        assert form.errors["amount"] == [money.AMOUNT_MESSAGE]
    assert not RefundForm({"amount": "0", "reason": "r", "request_key": "2b1f3a5e-2f70-4b2f-8f0e-7d0d1c1b1a19"}).is_valid()
