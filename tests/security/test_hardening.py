"""Production hardening: rate limits, log-in brute-force protection, CSP, the deploy check."""

import json
import os
import subprocess
import sys

import pytest
from django.urls import reverse

from netcop_hub.config import parse_rate
from wallet.models import TopUp

pytestmark = pytest.mark.django_db


def test_topup_create_is_rate_limited_per_user_before_any_work(auth_client, settings, monkeypatch):
    from wallet import payments

    settings.TOPUP_RATE_LIMIT = parse_rate("3/10m")
    monkeypatch.setattr(payments, "create_and_confirm_intent", lambda **kw: pytest.fail("Stripe called"))
    url = reverse("wallet:create_payment_intent")
    body = json.dumps({"amount": "abc", "payment_method_id": "pm_card_visa", "idempotency_key": "k"})
    codes = [auth_client.post(url, body, content_type="application/json").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    resp = auth_client.post(url, body, content_type="application/json")
    assert resp.status_code == 429 and "Too many attempts" in resp.json()["error"]
    assert int(resp["Retry-After"]) > 0
    assert not TopUp.objects.exists()


def test_rate_limit_is_per_ip_too(client, make_user, settings):
    settings.TOPUP_RATE_LIMIT = parse_rate("2/10m")
    url = reverse("wallet:create_payment_intent")
    codes = []
    for _ in range(3):  # a new account each time: only the IP is shared
        client.force_login(make_user())
        codes.append(client.post(url, "{}", content_type="application/json").status_code)
    assert codes[-1] == 429
    # Another IP is not affected.
    client.force_login(make_user())
    other = client.post(url, "{}", content_type="application/json", REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 400


def test_agent_use_is_rate_limited(auth_client, settings):
    settings.AGENT_RATE_LIMIT = parse_rate("1/1m")
    from agents.models import Agent

    agent = Agent.objects.create(name="Lim", slug="lim", description="d", price="1.00", runner="phishing_url")
    url = reverse("agents:use", args=[agent.slug])
    auth_client.post(url, json.dumps({"input": "", "request_id": "x"}), content_type="application/json")
    resp = auth_client.post(url, json.dumps({"input": "", "request_id": "y"}), content_type="application/json")
    assert resp.status_code == 429


def test_login_rate_limit_shows_a_page(client, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("2/10m")
    url = reverse("authentication:login")
    for n in range(2):
        client.post(url, {"username": f"nobody{n}@example.com", "password": "x"})
    resp = client.post(url, {"username": "nobody9@example.com", "password": "x"})
    assert resp.status_code == 429 and b"Too many attempts" in resp.content


def test_bruteforce_locks_the_email_ip_pair_not_the_account(client, user, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("off")
    url = reverse("authentication:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": user.email, "password": "wrong"})
    locked = client.post(url, {"username": user.email, "password": "Sup3r-secret-pass"})
    assert locked.status_code == 429 and b"Too many failed log-ins" in locked.content
    assert "_auth_user_id" not in client.session
    # The real owner on another network still gets in.
    ok = client.post(url, {"username": user.email, "password": "Sup3r-secret-pass"}, REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 302


def test_lockout_expires(client, user, settings):
    from datetime import timedelta

    from axes.models import AccessAttempt
    from django.utils import timezone

    settings.LOGIN_RATE_LIMIT = parse_rate("off")
    url = reverse("authentication:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": user.email, "password": "wrong"})
    assert client.post(url, {"username": user.email, "password": "Sup3r-secret-pass"}).status_code == 429
    # Pretend the cool-off has passed.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert client.post(url, {"username": user.email, "password": "Sup3r-secret-pass"}).status_code == 302


def test_csp_allows_stripe_and_no_inline_scripts(auth_client, settings):
    resp = auth_client.get(reverse("wallet:topup"))
    policy = resp["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert "https://js.stripe.com" in directives["script-src"]
    assert "https://hooks.stripe.com" in directives["frame-src"]
    assert "https://api.stripe.com" in directives["connect-src"]
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    # Sandbox mode: the page adds the localstripe it really uses (tests move it to a free port).
    settings.STRIPE_API_BASE = "http://127.0.0.1:8765"
    sandboxed = auth_client.get(reverse("wallet:topup"))["Content-Security-Policy"]
    assert "http://127.0.0.1:8765" in sandboxed and "127.0.0.1:8765" not in policy
    assert "127.0.0.1" not in auth_client.get(reverse("home"))["Content-Security-Policy"]
    # And our pages carry no inline script blocks (json_script data blocks are not executable).
    html = resp.content.decode()
    import re

    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


PRODUCTION = {"DEBUG": "False", "SECRET_KEY": "x" * 20 + "prod-secret-key-for-the-check-0123456789",
              "ALLOWED_HOSTS": "wallet.example.com", "STRIPE_SECRET_KEY": "sk_test_x",
              "STRIPE_PUBLISHABLE_KEY": "pk_test_x", "REDIS_URL": "redis://127.0.0.1:6379/0",
              "SITE_URL": "https://wallet.example.com", "OPS_EMAILS": "ops@wallet.example.com"}


def deploy_check(**overrides):
    # Nothing of the test process's own environment that production would not have: no Stripe or
    # Redis settings, and not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE (set in the same worker).
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "REDIS_")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(PRODUCTION, **overrides)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_deploy_check_passes_with_production_settings():
    out = deploy_check()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_deploy_check_wants_a_shared_cache():
    out = deploy_check(REDIS_URL=None)
    assert out.returncode != 0 and "netcop.W001" in out.stdout + out.stderr


@pytest.mark.parametrize("site_url", [None, "http://127.0.0.1:8000", "http://wallet.example.com"])
def test_deploy_check_wants_the_public_https_site_url(site_url):
    """Emails link to SITE_URL: the development default would send customers to localhost."""
    out = deploy_check(SITE_URL=site_url)
    assert out.returncode != 0 and "netcop.W002" in out.stdout + out.stderr


@pytest.mark.parametrize("ops_emails", [None, "", " , "])
def test_deploy_check_wants_ops_emails(ops_emails):
    """Early fraud warnings and server errors go to ADMINS (from OPS_EMAILS): empty, to nobody."""
    out = deploy_check(OPS_EMAILS=ops_emails)
    assert out.returncode != 0 and "netcop.W003" in out.stdout + out.stderr


def test_a_malformed_ops_email_stops_django_naming_the_variable():
    out = deploy_check(OPS_EMAILS="ops@wallet.example.com, not-an-address")
    assert out.returncode != 0 and "OPS_EMAILS='not-an-address' is not valid" in out.stderr


def test_production_without_stripe_keys_refuses_to_start():
    out = deploy_check(STRIPE_SECRET_KEY=None, STRIPE_PUBLISHABLE_KEY=None)
    assert out.returncode != 0 and "STRIPE_SECRET_KEY is not set" in out.stderr
    # An explicit sandbox is allowed (the benchmarks run DEBUG=False against localstripe).
    assert deploy_check(STRIPE_SECRET_KEY=None, STRIPE_SANDBOX="1").returncode == 0


def test_confirm_payment_is_rate_limited(auth_client, settings):
    settings.CONFIRM_RATE_LIMIT = parse_rate("2/10m")
    url = reverse("wallet:confirm_payment")
    codes = [auth_client.post(url, "{}", content_type="application/json").status_code for _ in range(3)]
    assert codes[-1] == 429 and codes[0] != 429
