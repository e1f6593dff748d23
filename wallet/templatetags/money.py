from decimal import Decimal, InvalidOperation

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def money(value, currency=None):
    """Format a Decimal as "1,234.50 AED" (two places, thousands separators)."""
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    return f"{amount:,.2f} {currency or settings.WALLET_CURRENCY}"


@register.filter
def signed_money(value, currency=None):
    """Like money, with an explicit sign: "+100.00 AED" / "-5.00 AED"."""
    text = money(value, currency)
    if text and Decimal(value) > 0:
        return "+" + text
    return text
