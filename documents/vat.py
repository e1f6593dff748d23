"""VAT arithmetic, exact: Decimal, rounded per line to the fils (0.01 AED) half up, totals summed.

A line's stated amount is its price as charged. With inclusive prices the VAT is inside it
(tax = amount x rate / (100 + rate), rounded; net = amount - tax); with exclusive prices it is the
net and the VAT is added (tax = amount x rate / 100, rounded; gross = amount + tax). Rounding each
line and summing keeps every printed line consistent with the totals (net + tax = gross on each
line and in total), which a per-document rounding would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
INCLUSIVE = "inclusive"
EXCLUSIVE = "exclusive"


def fils(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    description: str
    net: Decimal
    tax: Decimal
    gross: Decimal

    def as_json(self) -> dict:
        return {"description": self.description, "net": str(self.net), "tax": str(self.tax),
                "gross": str(self.gross)}

    @classmethod
    def from_json(cls, data: dict) -> Line:
        return cls(data["description"], Decimal(data["net"]), Decimal(data["tax"]), Decimal(data["gross"]))


def taxed_line(*, description: str, amount: Decimal, rate: Decimal, prices: str) -> Line:
    """One line of `amount` (the stated price) at `rate` percent."""
    amount = Decimal(amount)
    if amount != fils(amount):
        raise ValueError(f"{amount} is not an amount in fils")
    if prices == INCLUSIVE:
        tax = fils(amount * rate / (100 + rate))
        return Line(description, amount - tax, tax, amount)
    if prices == EXCLUSIVE:
        tax = fils(amount * rate / 100)
        return Line(description, amount, tax, amount + tax)
    raise ValueError(f"unknown price basis {prices!r}")


def untaxed_line(*, description: str, amount: Decimal) -> Line:
    """A line outside the scope of VAT (a prepayment receipt under VAT_TAX_POINT=usage)."""
    amount = Decimal(amount)
    return Line(description, amount, Decimal("0.00"), amount)


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def totals(lines: list[Line]) -> Totals:
    zero = Decimal("0.00")
    return Totals(
        sum((line.net for line in lines), zero),
        sum((line.tax for line in lines), zero),
        sum((line.gross for line in lines), zero),
    )
