"""Schemathesis (property-based tests generated from /api/v1/openapi.json) against the live app:
a real HTTP server (pytest-django's live_server) with a real key and agents behind it (issue 21).

Every operation is called with generated valid and invalid data: no answer may be a 5xx, and every
answer must match the document (status code, content type, headers, body schema)."""

from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api_secret(make_user, make_key, make_agent, settings):
    settings.API_RATE_LIMIT = None  # thousands of calls from one key
    make_agent(slug="phishing-url-checker", price=Decimal("0.50"))
    make_agent(slug="password-audit", name="Password audit", runner="password_audit", price=Decimal("0.50"))
    user = make_user(balance=Decimal("5000.00"))
    _, secret = make_key(user)
    return secret


@pytest.fixture
def api_schema(live_server, api_secret):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    schema.config.headers = {"Authorization": f"Bearer {api_secret}"}
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_document(case, api_secret):
    case.call_and_validate(headers={"Authorization": f"Bearer {api_secret}"})
