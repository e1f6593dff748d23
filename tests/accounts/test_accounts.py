"""Accounts pages: sign up, log in by email, log out, the nav balance."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_signup_creates_user_and_logs_in(client):
    resp = client.post(
        reverse("authentication:signup"),
        {"email": "New@Example.com", "username": "Newbie", "password1": "a-Long-pass-42",
         "password2": "a-Long-pass-42"},
    )
    assert resp.status_code == 302
    user = get_user_model().objects.get(email="new@example.com")
    assert user.username == "Newbie" and user.wallet_balance == Decimal("0.00")
    page = client.get(reverse("wallet:topup"))
    assert page.status_code == 200
    assert b'data-wallet-balance="0.00"' in page.content and b"0.00 AED" in page.content


def test_signup_validates_passwords_and_duplicates(client, user):
    resp = client.post(
        reverse("authentication:signup"),
        {"email": "x@example.com", "username": "x", "password1": "123", "password2": "123"},
    )
    assert resp.status_code == 200 and b"too short" in resp.content
    resp = client.post(
        reverse("authentication:signup"),
        {"email": "x@example.com", "username": "x", "password1": "a-Long-pass-42",
         "password2": "a-Long-pass-43"},
    )
    assert b"do not match" in resp.content
    resp = client.post(
        reverse("authentication:signup"),
        {"email": "ALICE@example.com", "username": "x", "password1": "a-Long-pass-42",
         "password2": "a-Long-pass-42"},
    )
    assert b"already exists" in resp.content
    assert get_user_model().objects.count() == 1


def test_login_by_email_case_insensitive_and_logout(client, user):
    resp = client.post(
        reverse("authentication:login"), {"username": "Alice@Example.com", "password": "Sup3r-secret-pass"}
    )
    assert resp.status_code == 302
    assert client.get(reverse("wallet:topup")).status_code == 200
    bad = client.post(reverse("authentication:logout"))
    assert bad.status_code == 302
    assert client.get(reverse("wallet:topup")).status_code == 302  # back to login


def test_wrong_password_shows_clear_error(client, user):
    resp = client.post(reverse("authentication:login"), {"username": "alice@example.com", "password": "nope"})
    assert resp.status_code == 200 and b"do not match an account" in resp.content


def test_nav_shows_formatted_balance(auth_client, user):
    user.add_balance(Decimal("1234.5"))
    page = auth_client.get(reverse("home"))
    assert b'data-wallet-balance="1234.50"' in page.content
    assert b"1,234.50 AED" in page.content


def test_pages_require_login(client):
    for name in ["wallet:topup", "wallet:history", "agents:catalogue"]:
        resp = client.get(reverse(name))
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_password_reset_sends_email(client, user, mailoutbox):
    resp = client.post(reverse("authentication:password_reset"), {"email": "alice@example.com"})
    assert resp.status_code == 302
    assert len(mailoutbox) == 1 and "/accounts/password/reset/" in mailoutbox[0].body


def test_production_refuses_to_start_without_secret_key():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "False", "SECRET_KEY": ""}
    proc = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','netcop_hub.settings'); django.setup()"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0 and "SECRET_KEY is not set" in proc.stderr
