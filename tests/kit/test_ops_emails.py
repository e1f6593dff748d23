"""OPS_EMAILS -> ADMINS (netcop_hub.config.admins): who mail_admins reaches (the deploy check is in
tests/security/test_hardening.py; the fraud warning email in tests/disputes/test_fraud_and_holds.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from netcop_hub import config


def test_parses_plain_and_named_addresses(monkeypatch):
    monkeypatch.setenv("OPS_EMAILS", " ops@example.com , Risk Team <risk@example.com>,")
    assert config.admins("OPS_EMAILS") == [("ops", "ops@example.com"), ("Risk Team", "risk@example.com")]


@pytest.mark.parametrize("value", ["", "  ", ","])
def test_empty_is_no_one(monkeypatch, value):
    monkeypatch.setenv("OPS_EMAILS", value)
    assert config.admins("OPS_EMAILS") == []


@pytest.mark.parametrize("value", ["ops", "ops@", "ops@example.com;risk@example.com"])
def test_malformed_stops_with_the_name(monkeypatch, value):
    monkeypatch.setenv("OPS_EMAILS", value)
    with pytest.raises(ImproperlyConfigured, match="OPS_EMAILS="):
        config.admins("OPS_EMAILS")
