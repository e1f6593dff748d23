"""The issue 22 settings are parsed once at start-up; a bad value stops Django naming the variable."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from netcop_hub import config


@pytest.mark.parametrize(("value", "expected"), [("", Decimal("5.00")), ("5", Decimal("5.00")),
                                                 ("0", Decimal("0.00")), ("12.5", Decimal("12.50"))])
def test_vat_rate(monkeypatch, value, expected):
    monkeypatch.setenv("VAT_RATE", value)
    assert config.vat_rate("VAT_RATE", "5") == expected


@pytest.mark.parametrize("value", ["abc", "-1", "101", "5.001", "5e0", "NaN"])
def test_bad_vat_rate_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("VAT_RATE", value)
    with pytest.raises(ImproperlyConfigured, match="VAT_RATE="):
        config.vat_rate("VAT_RATE", "5")


def test_tax_point_and_price_basis(monkeypatch):
    monkeypatch.setenv("VAT_TAX_POINT", "Usage")
    assert config.choice("VAT_TAX_POINT", "topup", config.TAX_POINTS) == "usage"
    monkeypatch.setenv("VAT_PRICES", "gross")
    with pytest.raises(ImproperlyConfigured, match="VAT_PRICES='gross' is not valid: use one of inclusive"):
        config.choice("VAT_PRICES", "inclusive", config.PRICE_BASES)


@pytest.mark.parametrize(("value", "expected"), [("", ""), ("100 1234-5678-9000", "100123456789000")])
def test_seller_trn(monkeypatch, value, expected):
    monkeypatch.setenv("INVOICE_SELLER_TRN", value)
    assert config.trn("INVOICE_SELLER_TRN") == expected


def test_bad_seller_trn(monkeypatch):
    monkeypatch.setenv("INVOICE_SELLER_TRN", "12345")
    with pytest.raises(ImproperlyConfigured, match="INVOICE_SELLER_TRN="):
        config.trn("INVOICE_SELLER_TRN")
