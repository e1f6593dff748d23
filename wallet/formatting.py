"""Formatting amounts in the wallet's currency: "1,234.50 AED" (U+2212 for negatives).

Apart from wallet.money (which re-exports these) so that the error classes in wallet.exceptions,
which wallet.money's amount rule raises, can write their messages with the one formatting rule.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

CENT = Decimal("0.01")
MINUS = "\u2212"  # the real minus sign, used when formatting negative amounts


def format_money(amount: Decimal, currency: str | None = None) -> str:
    """Decimal -> "1,234.50 AED" in the wallet currency; negatives as "−99,999.00 AED" (U+2212)."""
    amount = Decimal(amount).quantize(CENT)
    text = f"{abs(amount):,.2f} {currency or settings.WALLET_CURRENCY}"
    return MINUS + text if amount < 0 else text


def format_signed_money(amount: Decimal, currency: str | None = None) -> str:
    """Like format_money with an explicit sign for credits: "+100.00 AED" / "−5.00 AED"."""
    text = format_money(amount, currency)
    return "+" + text if Decimal(amount) > 0 else text
