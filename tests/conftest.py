"""Shared fixtures. Tests that need PostgreSQL or Chromium skip locally but fail under CI=true."""

import os
import uuid

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str):
    """Skip locally; under CI=true a missing dependency is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: refusing to skip)")
    pytest.skip(reason)


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


@pytest.fixture
def make_user(db):
    """Factory: make_user(email=..., password=..., balance=Decimal(...))."""
    from django.contrib.auth import get_user_model

    from wallet import services

    def factory(email=None, password="Sup3r-secret-pass", balance=None, **extra):
        User = get_user_model()
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
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
