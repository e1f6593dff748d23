"""API keys: format, hashing, scopes, revocation, holds, and never on a session page (issue 21)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from authentication import api_keys
from authentication.models import ApiKey

pytestmark = pytest.mark.django_db


def test_key_format_checksum_and_hash(make_user, make_key):
    key, secret = make_key(make_user())
    assert secret.startswith(("ncw_live_", "ncw_test_"))
    assert len(secret) == 9 + 30 + 6
    assert api_keys.well_formed(secret)
    # One changed character breaks the checksum: refused before any lookup.
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert not api_keys.well_formed(flipped)
    # Only the keyed hash is stored, never the secret.
    stored = ApiKey.objects.get(pk=key.pk)
    assert secret not in str(stored.__dict__)
    assert stored.secret_hash == api_keys.hash_secret(secret) != secret
    assert secret.startswith(stored.prefix) and len(stored.prefix) == 17


def test_cap_constraint_refuses_zero(make_user, make_key):
    key, _ = make_key(make_user())
    with pytest.raises(IntegrityError):
        ApiKey.objects.filter(pk=key.pk).update(monthly_cap=Decimal("0.00"))


def test_requests_without_a_valid_key_are_401_problem(client, bearer):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Basic abc"}, bearer("ncw_live_" + "x" * 36)):
        r = client.get("/api/v1/balance", **headers)
        assert r.status_code == 401
        assert r["Content-Type"] == "application/problem+json"
        assert r.json()["code"] == "invalid_api_key"


def test_session_never_works_on_the_api(auth_client):
    r = auth_client.get("/api/v1/balance")
    assert r.status_code == 401


def test_key_never_works_on_a_page(client, make_user, make_key, bearer):
    _, secret = make_key(make_user())
    r = client.get("/wallet/history/", **bearer(secret))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_revoked_key_is_refused_on_the_next_request(client, make_user, make_key, bearer):
    user = make_user()
    key, secret = make_key(user)
    assert client.get("/api/v1/ping", **bearer(secret)).status_code == 200
    api_keys.revoke(user=user, key_id=key.pk)
    r = client.get("/api/v1/ping", **bearer(secret))
    assert r.status_code == 401 and r.json()["code"] == "api_key_revoked"


def test_expired_inactive_and_held_accounts_are_refused(client, make_user, make_key, bearer):
    user = make_user()
    key, secret = make_key(user)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/api/v1/ping", **bearer(secret)).json()["code"] == "api_key_expired"

    user2 = make_user()
    _, secret2 = make_key(user2)
    type(user2).objects.filter(pk=user2.pk).update(is_active=False)
    assert client.get("/api/v1/ping", **bearer(secret2)).json()["code"] == "account_inactive"

    user3 = make_user()
    _, secret3 = make_key(user3)
    type(user3).objects.filter(pk=user3.pk).update(held_at=timezone.now(), hold_reason="dispute")
    r = client.get("/api/v1/ping", **bearer(secret3))
    assert r.status_code == 403 and r.json()["code"] == "account_on_hold"


def test_missing_scope_is_403(client, make_user, make_key, bearer, agent):
    _, secret = make_key(make_user(balance=Decimal("10")), scopes=["wallet:read"])
    r = client.post(
        f"/api/v1/agents/{agent.slug}/runs", {"input": "http://example.com"},
        content_type="application/json", **bearer(secret),
    )
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert client.get("/api/v1/transactions", **bearer(secret)).status_code == 403


def test_rate_limit_per_key_answers_429_with_retry_after(client, settings, make_user, make_key, bearer):
    from netcop_hub.config import Rate

    settings.API_RATE_LIMIT = Rate(3, 60)
    user = make_user()
    _, secret = make_key(user)
    _, other = make_key(user, name="other")
    for _ in range(3):
        assert client.get("/api/v1/ping", **bearer(secret)).status_code == 200
    r = client.get("/api/v1/ping", **bearer(secret))
    assert r.status_code == 429
    assert int(r["Retry-After"]) >= 1 and r.json()["retry_after"] == int(r["Retry-After"])
    # Per key: another key of the same account still works.
    assert client.get("/api/v1/ping", **bearer(other)).status_code == 200


def test_keys_page_creates_shows_once_and_revokes(auth_client, user):
    r = auth_client.post(
        "/accounts/api-keys/", {"name": "mail gateway", "scopes": ["agents:run"], "monthly_cap": "20.00"}
    )
    assert r.status_code == 200
    secret = r.context["secret"]
    assert api_keys.well_formed(secret) and secret in r.content.decode()
    assert "no-store" in r["Cache-Control"] or "no-cache" in r["Cache-Control"]
    key = ApiKey.objects.get(user=user)
    assert key.monthly_cap == Decimal("20.00") and key.scopes == ["agents:run"]
    page = auth_client.get("/accounts/api-keys/").content.decode()
    assert secret not in page and key.prefix in page
    auth_client.post(f"/accounts/api-keys/{key.pk}/revoke/")
    assert ApiKey.objects.get(pk=key.pk).is_revoked


def test_keys_page_refuses_another_users_key(auth_client, make_user, make_key):
    key, _ = make_key(make_user())
    auth_client.post(f"/accounts/api-keys/{key.pk}/revoke/")
    assert not ApiKey.objects.get(pk=key.pk).is_revoked


def test_docs_page_lists_every_endpoint_and_code(client):
    r = client.get("/api/v1/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    for needle in ("POST /api/v1/agents/{slug}/runs", "GET /api/v1/balance", "Idempotency-Key",
                   'id="insufficient_balance"', 'id="key_cap"', 'id="rate_limited"', "/api/v1/openapi.json"):
        assert needle in html, needle


def test_admin_shows_keys_without_their_hash_and_refuses_edits(admin_client, make_user, make_key):
    key, secret = make_key(make_user(), name="gateway")
    listing = admin_client.get("/admin/authentication/apikey/")
    assert listing.status_code == 200 and key.prefix in listing.content.decode()
    detail = admin_client.get(f"/admin/authentication/apikey/{key.pk}/change/").content.decode()
    assert key.secret_hash not in detail and secret not in detail
    assert admin_client.get("/admin/authentication/apikey/add/").status_code == 403
    assert admin_client.get("/admin/api/webhookdelivery/").status_code == 200


@pytest.mark.parametrize(
    "meta, stored",
    [
        ({"REMOTE_ADDR": ""}, None),  # gunicorn on a unix socket: client_ip says "unknown"
        ({"REMOTE_ADDR": "203.0.113.9"}, "203.0.113.9"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "not-an-address"}, None),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": " 2001:db8::1 "}, "2001:db8::1"),
        ({"REMOTE_ADDR": "::ffff:192.0.2.7"}, "::ffff:192.0.2.7"),  # a dual-stack server's IPv4 client
    ],
)
def test_a_key_works_whatever_the_client_address_looks_like(client, make_user, make_key, settings, meta, stored):
    """Only an address is stored as the key's last address: an unknown or garbled one is not, and
    never turns the request into a 500 (PostgreSQL's inet refuses anything else)."""
    settings.RATE_LIMIT_IP_HEADER = "HTTP_X_REAL_IP"
    key, secret = make_key(make_user())
    resp = client.get("/api/v1/ping", HTTP_AUTHORIZATION=f"Bearer {secret}", **meta)
    assert resp.status_code == 200, resp.content
    key.refresh_from_db()
    assert key.last_used_ip == stored
    # The next request from the same address within the minute does not write the key again.
    first = key.last_used_at
    assert client.get("/api/v1/ping", HTTP_AUTHORIZATION=f"Bearer {secret}", **meta).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first
