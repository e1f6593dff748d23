"""VAT arithmetic by hand and by property: per-line rounding to the fils, both price bases."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from documents import vat

D = Decimal


@pytest.mark.parametrize(
    ("amount", "prices", "net", "tax", "gross"),
    [
        # 100 inclusive: 100 x 5/105 = 4.7619... -> 4.76; net 95.24.
        ("100.00", "inclusive", "95.24", "4.76", "100.00"),
        # 100 exclusive: 5.00 on top.
        ("100.00", "exclusive", "100.00", "5.00", "105.00"),
        # 10.50 inclusive: 0.5 exactly -> 0.50; net 10.00.
        ("10.50", "inclusive", "10.00", "0.50", "10.50"),
        # 0.10 exclusive: 0.005 rounds half up to 0.01.
        ("0.10", "exclusive", "0.10", "0.01", "0.11"),
        # 0.21 inclusive: 0.21 x 5/105 = 0.01 exactly.
        ("0.21", "inclusive", "0.20", "0.01", "0.21"),
        # 33.33 exclusive: 1.6665 -> 1.67.
        ("33.33", "exclusive", "33.33", "1.67", "35.00"),
        # 1234.56 inclusive: 58.7885... -> 58.79; net 1175.77.
        ("1234.56", "inclusive", "1175.77", "58.79", "1234.56"),
    ],
)
def test_hand_calculated_lines(amount, prices, net, tax, gross):
    line = vat.taxed_line(description="x", amount=D(amount), rate=D("5.00"), prices=prices)
    assert (line.net, line.tax, line.gross) == (D(net), D(tax), D(gross))


def test_rounding_is_per_line_then_summed():
    # Three lines of 0.10 exclusive: each 0.005 -> 0.01, so 0.03 of VAT, where rounding the
    # document's 0.30 once would give 0.02 (0.015 half-up is 0.02). Per line is what is printed.
    lines = [vat.taxed_line(description="x", amount=D("0.10"), rate=D("5"), prices="exclusive")] * 3
    sums = vat.totals(lines)
    assert (sums.net, sums.tax, sums.gross) == (D("0.30"), D("0.03"), D("0.33"))


def test_refuses_fractions_of_a_fils_and_unknown_basis():
    with pytest.raises(ValueError):
        vat.taxed_line(description="x", amount=D("1.001"), rate=D("5"), prices="inclusive")
    with pytest.raises(ValueError):
        vat.taxed_line(description="x", amount=D("1.00"), rate=D("5"), prices="gross")


amounts = st.decimals(min_value=D("0.01"), max_value=D("99999999.99"), places=2)
rates = st.decimals(min_value=D("0"), max_value=D("100"), places=2)


@given(amount=amounts, rate=rates, prices=st.sampled_from(["inclusive", "exclusive"]))
def test_lines_always_add_up(amount, rate, prices):
    line = vat.taxed_line(description="x", amount=amount, rate=rate, prices=prices)
    assert line.net + line.tax == line.gross
    assert line.tax == line.tax.quantize(D("0.01")) and line.tax >= 0
    stated = line.gross if prices == "inclusive" else line.net
    assert stated == amount
    # The VAT is the rate of the net to within half a fils (of the rounded figure).
    exact = line.net * rate / 100 if prices == "exclusive" else amount * rate / (100 + rate)
    assert abs(line.tax - exact) <= D("0.005")
