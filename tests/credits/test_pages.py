"""Where people see credit lots (issue 23): the wallet page, the redeem form, the admin."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.test import Client

from tests.credits.helpers import give, settled_topup
from wallet import services
from wallet.models import CreditLot, PromoCode, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


def test_the_wallet_page_shows_paid_promotional_and_the_next_expiry(client, make_user):
    user = make_user()
    settled_topup(user, "20.00", "pi_page")
    give(user, "5.00", days=10)
    client.force_login(user)
    page = client.get("/wallet/").content.decode()
    paid = re.search(r"data-credits-paid>([^<]*)<", page).group(1)
    promotional = re.search(r"data-credits-promotional>([^<]*)<", page).group(1)
    assert "20.00" in paid and "5.00" in promotional
    assert 'id="wallet-credits"' in page and "Next expiry" in page and "never refunded to a card" in page
    assert "5.00" in re.search(r"data-credits-next>(.*?)</dd>", page).group(1)


def test_a_wallet_without_promotional_credit_shows_only_the_form(client, make_user):
    user = make_user(balance=Decimal("10.00"))
    client.force_login(user)
    page = client.get("/wallet/").content.decode()
    assert 'id="wallet-credits"' not in page and 'id="promo-form"' in page


def test_redeeming_on_the_wallet_page(client, make_user):
    PromoCode.objects.create(code="HELLO", amount=Decimal("7.00"), max_redemptions=5, credit_valid_days=30)
    user = make_user()
    client.force_login(user)
    first = client.post("/wallet/promo/redeem/", {"code": "hello"}, follow=True)
    assert "promotional credit added" in first.content.decode()
    second = client.post("/wallet/promo/redeem/", {"code": "HELLO"}, follow=True)
    assert "already redeemed" in second.content.decode()
    wrong = client.post("/wallet/promo/redeem/", {"code": "NOPE"}, follow=True)
    assert "does not exist" in wrong.content.decode()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("7.00")


def test_the_redeem_form_needs_csrf(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    assert client.post("/wallet/promo/redeem/", {"code": "X"}).status_code == 403


def test_staff_grant_credit_from_the_user_admin(client, make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    user = make_user()
    client.force_login(staff)
    change = client.get(f"/admin/authentication/user/{user.pk}/change/")
    assert change.status_code == 200 and "Grant credit" in change.content.decode()
    response = client.post(
        f"/admin/authentication/user/{user.pk}/grant-credit/",
        {"amount": "12.50", "reason": "Goodwill after the outage", "valid_days": "30"},
    )
    assert response.status_code == 302
    entry = WalletTransaction.objects.get(user=user, type=TxType.GRANT)
    assert entry.created_by_id == staff.pk and entry.amount == Decimal("12.50")
    lot = CreditLot.objects.get(credit_transaction=entry)
    assert lot.kind == "promotional" and lot.expires_at is not None
    page = client.get(f"/admin/authentication/user/{user.pk}/change/").content.decode()
    assert 'id="credit-lots"' in page and "Promotional" in page


def test_staff_without_the_permission_cannot_grant(client, make_user):
    staff = make_user(is_staff=True)
    client.force_login(staff)
    user = make_user()
    assert client.get(f"/admin/authentication/user/{user.pk}/grant-credit/").status_code == 403


def test_history_rows_and_csv_say_what_was_promotional(client, make_user):
    user = make_user(balance=Decimal("10.00"))
    give(user, "3.00")
    services.debit(user=user, amount="5.00", type=TxType.AGENT_USAGE, description="Agent run: x")
    client.force_login(user)
    page = client.get("/wallet/history/").content.decode()
    assert "of it promotional credit" in page and "Promotional credit" in page
    lines = list(
        csv.reader(io.StringIO(b"".join(client.get("/wallet/history/export.csv").streaming_content).decode()))
    )
    assert lines[0][-1] == "Promotional part"
    assert [line[-1] for line in lines[1:]] == ["-3.00", "3.00", "0.00"]
