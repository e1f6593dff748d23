"""Issue 12: the admin's money pages. Adjust balance (#7) and refunds to the card (#6)."""

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse

from wallet import services
from wallet.models import TxType, WalletTransaction

pytestmark = pytest.mark.django_db

MINUS = "\u2212"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def adjust_url(user):
    return reverse("admin:authentication_user_adjust_balance", args=[user.pk])


def _token(body: str) -> str | None:
    match = re.search(r'name="token" value="([^"]+)"', body)
    return match.group(1) if match else None


# --- #7 Adjust balance ---------------------------------------------------------------------------


def test_adjust_confirmation_formats_amounts_as_money(admin_client, user):
    services.credit(user=user, amount="120000.00", type=TxType.ADJUSTMENT, description="funds")
    review = admin_client.post(adjust_url(user), {"amount": "-99999", "reason": "Chargeback"})
    body = review.content.decode()
    assert _token(body)
    assert f'data-confirm-amount>{MINUS}99,999.00 AED<' in body
    assert "data-confirm-new-balance>20,001.00 AED<" in body
    assert "data-current-balance>120,000.00 AED<" in body
    assert "-99999" not in body and "this will be refused" not in body


def test_adjust_change_keeps_what_was_typed_and_writes_nothing(admin_client, user):
    services.credit(user=user, amount="50.00", type=TxType.ADJUSTMENT, description="funds")
    token = _token(admin_client.post(adjust_url(user), {"amount": "-12.30", "reason": "Double charge"}).content.decode())
    back = admin_client.post(adjust_url(user), {"token": token, "edit": "1"})
    body = back.content.decode()
    assert back.status_code == 200 and 'id="adjust-form"' in body
    assert re.search(r'name="amount" value="-12.30"', body)
    assert re.search(r'name="reason"[^>]*>\s*Double charge</textarea>', body)
    assert "errornote" not in body
    assert WalletTransaction.objects.filter(user=user).count() == 1
    # A forged token gives no values back: start again.
    forged = admin_client.post(adjust_url(user), {"token": "x" + token, "edit": "1"}, follow=True)
    assert "expired or is invalid" in forged.content.decode()


def test_adjust_messages_format_money(admin_client, user):
    services.credit(user=user, amount="2000.00", type=TxType.ADJUSTMENT, description="funds")
    token = _token(admin_client.post(adjust_url(user), {"amount": "-1500", "reason": "Fix"}).content.decode())
    services.debit(user=user, amount="1000.00", type=TxType.AGENT_USAGE, description="spent meanwhile")
    refused = admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}, follow=True).content.decode()
    assert "debiting 1,500.00 AED would take the balance below zero (it is 1,000.00 AED)" in refused
    token = _token(admin_client.post(adjust_url(user), {"amount": "-1000", "reason": "Fix"}).content.decode())
    done = admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}, follow=True).content.decode()
    assert f"Debited 1,000.00 AED from {user.email}. New balance: 0.00 AED" in done
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")
