"""Money: the one amount rule (parsing to Decimal), and formatting in the wallet's currency.

Every endpoint and form that reads an amount a person typed uses `parse_amount` (or `AmountField`),
so the same text is accepted or refused with the same message everywhere. The rule: a plain decimal
with at most two places ("100", "100.5", "100.50"); Arabic-Indic (٠-٩), Extended Arabic-Indic
(۰-۹) and full-width (０-９) digits count as 0-9 and the Arabic decimal separator (٫) as ".";
surrounding whitespace is ignored. Exponents, underscores, signs, inner spaces, thousands
separators, NaN/Infinity and a third decimal place are refused. Values are Decimal quantized to 0.01,
never float; huge values are refused here (as "too large"), before any arithmetic could overflow.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings

from .exceptions import InvalidAmount
from .formatting import CENT, MINUS, format_money, format_signed_money

__all__ = [
    "AMOUNT_MESSAGE",
    "CENT",
    "MAX_AMOUNT",
    "TOO_LARGE_MESSAGE",
    "AmountField",
    "format_money",
    "format_signed_money",
    "parse_amount",
    "topup_range_message",
    "to_money",
]

# max_digits=12, decimal_places=2 on every money column.
MAX_AMOUNT = Decimal("9999999999.99")
_MAX_INTEGER_DIGITS = len(str(int(MAX_AMOUNT)))

AMOUNT_MESSAGE = "Enter an amount like 100 or 100.50."
TOO_LARGE_MESSAGE = "That amount is too large."

_DIGITS = {
    **{0x0660 + i: str(i) for i in range(10)},  # Arabic-Indic
    **{0x06F0 + i: str(i) for i in range(10)},  # Extended Arabic-Indic (Persian, Urdu)
    **{0xFF10 + i: str(i) for i in range(10)},  # full-width
    0x066B: ".",  # Arabic decimal separator
    0xFF0E: ".",  # full-width full stop
}
# ASCII only (re.ASCII): Python's \d and Decimal() would also take Devanagari, Thai... digits.
_PLAIN = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?", re.ASCII)


def parse_amount(value: object, *, signed: bool = False) -> Decimal:
    """Parse an amount a person typed into a Decimal with two places; InvalidAmount otherwise.

    `value` is text (a form field, a JSON string) or a JSON number (int, or Decimal: the rule is
    applied to its text, so a JSON `1e2` is refused like "1e2"). With signed=True a leading "-" or
    "−" is allowed (staff balance adjustments); "+" never is. Range checks beyond MAX_AMOUNT are the
    caller's (a top-up has its own limits).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidAmount(AMOUNT_MESSAGE)
    text = (value if isinstance(value, str) else str(value)).strip().translate(_DIGITS)
    negative = False
    if signed and text[:1] in ("-", MINUS):
        negative, text = True, text[1:]
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise InvalidAmount(AMOUNT_MESSAGE)
    if len(match.group(1).lstrip("0")) > _MAX_INTEGER_DIGITS:
        raise InvalidAmount(TOO_LARGE_MESSAGE)
    amount = Decimal(text).quantize(CENT)
    if amount > MAX_AMOUNT:
        raise InvalidAmount(TOO_LARGE_MESSAGE)
    return -amount if negative and amount else amount


def to_money(value: object) -> Decimal:
    """Any amount handed to the services (Decimal, int, or text under the amount rule, signed).

    Decimals and ints are our own values (database columns, arithmetic): any finite value with at
    most two places within ±MAX_AMOUNT. Text goes through parse_amount(signed=True). Floats,
    booleans and anything else raise InvalidAmount.
    """
    if isinstance(value, str):
        return parse_amount(value, signed=True)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidAmount("Amounts must be Decimal or decimal text, never float.")
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidAmount(AMOUNT_MESSAGE)
    # adjusted() first: abs() or quantize() of 1E+999999999 would overflow the decimal context.
    if amount and (amount.adjusted() >= _MAX_INTEGER_DIGITS or abs(amount) > MAX_AMOUNT):
        raise InvalidAmount(TOO_LARGE_MESSAGE)
    quantized = amount.quantize(CENT)
    if quantized != amount:
        raise InvalidAmount("Amounts can have at most two decimal places.")
    return quantized


def topup_range_message() -> str:
    """The one sentence for a top-up amount out of range: the service refuses with it, the page's
    script shows it (the top-up page config), and a too-large amount is said the same way."""
    low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
    return f"Enter an amount between {format_money(low)} and {format_money(high)}."


class AmountField(forms.Field):
    """A form field for an amount under the one amount rule; cleans to a Decimal with two places."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def __init__(self, *, signed: bool = False, min_value: Decimal | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signed = signed
        self.min_value = min_value

    def to_python(self, value: Any) -> Decimal | None:
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        try:
            amount = parse_amount(value, signed=self.signed)
        except InvalidAmount as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
        if self.min_value is not None and amount < self.min_value:
            raise forms.ValidationError(f"Enter at least {format_money(self.min_value)}.", code="min_value")
        return amount
