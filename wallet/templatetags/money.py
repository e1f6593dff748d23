"""{% load money %}: {{ amount|money }} -> "1,234.50 AED", {{ amount|signed_money }} -> "+5.00 AED".

Both go through wallet.money.format_money, the one formatting rule (U+2212 for negatives).
"""

from decimal import Decimal, InvalidOperation

from django import template

from wallet.money import format_money, format_signed_money

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool | float):
        return None
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return amount if amount.is_finite() else None


@register.filter
def money(value, currency=None):
    """A Decimal as "1,234.50 AED" (two places, thousands separators, "−" for negatives)."""
    amount = _decimal(value)
    return "" if amount is None else format_money(amount, currency or None)


@register.filter
def signed_money(value, currency=None):
    """Like money, with an explicit sign: "+100.00 AED" / "−5.00 AED"."""
    amount = _decimal(value)
    if amount is None:
        return ""
    return format_signed_money(amount, currency or None)
