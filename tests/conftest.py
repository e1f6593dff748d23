"""Shared fixtures. Tests that need PostgreSQL or Chromium skip locally but fail under CI=true."""

import os
import uuid

import pytest

# Re-exported for modules that imported them from here before tests/helpers.py existed.
from tests.helpers import IN_CI, PASSWORD, free_port, skip_or_fail  # noqa: F401
from tests.helpers import free_port as _free_port  # noqa: F401


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """PYTEST_DB_SUFFIX lets several suites share one machine without sharing a test database."""
    suffix = os.environ.get("PYTEST_DB_SUFFIX")
    if not suffix:
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    test = db.setdefault("TEST", {})
    if db["ENGINE"].endswith("sqlite3"):
        test["NAME"] = f"{test.get('NAME') or 'test_db.sqlite3'}.{suffix}"
    else:
        test["NAME"] = f"test_{db['NAME']}_{suffix}"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """PBKDF2's deliberate slowness is the bulk of the suite's time; tests need hashing, not its cost."""
    from django.conf import settings
    from django.contrib.auth import hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()


IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "agents"],
    }
}


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):
    """Tasks run inside the call that enqueues them (on commit), unless a test asks for real workers
    (tests/workers.py): most tests are not about the queue."""
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _admin_2fa_only_where_tested(request, settings):
    """Staff two-factor (ADMIN_REQUIRE_2FA, issue 20) is on only in tests marked `two_factor`, which
    prove no admin page opens without it (tests/fraud/test_two_factor.py); the admin tests elsewhere
    are about the admin's pages, and log staff in with force_login."""
    if request.node.get_closest_marker("two_factor") is None:
        settings.ADMIN_REQUIRE_2FA = False


@pytest.fixture
def make_user(db):
    """Factory: make_user(email=..., password=..., balance=Decimal(...))."""
    from django.contrib.auth import get_user_model

    from wallet import services

    def factory(email=None, password=PASSWORD, balance=None, verified=True, new_account=False, **extra):
        """verified: the email is confirmed (top-ups need it, issue 20); new_account: joined now, so
        NEW_ACCOUNT_TOPUP_LIMIT applies (by default the account is a week old). Tests about those
        rules say verified=False / new_account=True."""
        import datetime

        from django.utils import timezone

        User = get_user_model()
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        if not new_account:
            extra.setdefault("date_joined", timezone.now() - datetime.timedelta(days=7))
        if verified:
            extra.setdefault("email_verified_at", timezone.now())
        user = User.objects.create_user(email=email, password=password, **extra)
        if balance:
            services.credit(
                user=user, amount=balance, type=services.TxType.ADJUSTMENT, description="test funds"
            )
            user.refresh_from_db()
        return user

    return factory


@pytest.fixture
def user(make_user):
    return make_user(email="alice@example.com")


@pytest.fixture
def auth_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def make_agent(db):
    """Factory: make_agent(slug=..., price=Decimal(...), runner=...); a phishing-URL checker by default."""
    from decimal import Decimal

    from agents.models import Agent

    def factory(**kw):
        kw.setdefault("name", "Phishing URL checker")
        kw.setdefault("slug", "phish-" + uuid.uuid4().hex[:6])
        kw.setdefault("description", "Checks links.")
        kw.setdefault("price", Decimal("2.50"))
        kw.setdefault("runner", "phishing_url")
        return Agent.objects.create(**kw)

    return factory


@pytest.fixture
def agent(make_agent):
    """A paid agent at 2.50 AED (modules that need a fixed slug override this with make_agent)."""
    return make_agent()


@pytest.fixture
def webhook_secret(settings):
    """The app verifies webhooks with tests.helpers.WEBHOOK_SECRET (what post_event signs with)."""
    from tests.helpers import WEBHOOK_SECRET

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


# --- localstripe: a real, stateful fake Stripe server for the whole session ---------------------


@pytest.fixture(scope="session")
def localstripe_server():
    """Start localstripe on a free port once per session; yields its base URL."""
    import pathlib
    import shutil
    import socket
    import subprocess
    import sys
    import time

    exe = shutil.which("localstripe") or str(pathlib.Path(sys.executable).with_name("localstripe"))
    if not pathlib.Path(exe).exists():
        skip_or_fail("localstripe is not installed (pip install -r requirements-dev.txt)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("localstripe did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class LocalStripe:
    """Test helper around a running localstripe: wipe data, make card tokens, finish 3-D Secure."""

    key = "sk_test_netcop_tests"

    def __init__(self, url: str):
        self.url = url

    def request(self, method: str, path: str, data: dict | None = None) -> dict:
        import base64
        import json
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data or {}).encode() if data is not None else None
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{self.key}:".encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def wipe(self) -> None:
        self.request("DELETE", "/_config/data")

    def card(self, number: str = "4242424242424242") -> str:
        """A payment method id for a test card number (via a token, like the sandbox page does)."""
        token = self.request(
            "POST",
            "/v1/tokens",
            {"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "34", "card[cvc]": "123"},
        )
        return token["card"]["id"]

    def authenticate(self, intent_id: str, client_secret: str, success: bool = True) -> dict:
        """Do what the 3-D Secure box does when the cardholder clicks complete (or fail)."""
        return self.request(
            "POST",
            f"/v1/payment_intents/{intent_id}/_authenticate",
            {"client_secret": client_secret, "success": "true" if success else "false"},
        )

    def register_webhook(self, url: str, secret: str, name: str = "netcop") -> None:
        self.request("POST", f"/_config/webhooks/{name}", {"url": url, "secret": secret})


@pytest.fixture
def stripe_sandbox(localstripe_server, settings):
    """Point the app at the session's localstripe with wiped data; yields a LocalStripe helper."""
    from wallet import payments

    helper = LocalStripe(localstripe_server)
    helper.wipe()
    settings.PAYMENTS_BACKEND = "wallet.payments.sandbox.SandboxBackend"
    settings.STRIPE_API_BASE = localstripe_server
    settings.STRIPE_SECRET_KEY = LocalStripe.key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_netcop_tests"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    payments.reset_client()
    yield helper
    payments.reset_client()


# Real task workers (db_worker, rqworker, run_scheduler) and a local http agent: see tests/workers.py.
from tests.workers import agent_http_server, task_workers  # noqa: E402, F401
