"""Issue 18, item 11: an automatic top-up says what it is, where it happens, in the receipt (with the way
to turn it off) and in history; a failed one offers the way to fix it."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from django.core import mail

from wallet import services
from wallet.models import TopUp, TxType
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)
LABEL = "Automatic top-up of 100.00 AED on Visa ..4242"


def spend(user, amount):
    return services.debit(user=user, amount=amount, type=TxType.AGENT_USAGE, description="test spend")


def armed(user, stripe_sandbox, number="4242424242424242"):
    services.start_topup(user=user, amount="60.00", payment_method_id=stripe_sandbox.card(number),
                         idempotency_key=str(uuid.uuid4()), save_card=True)
    billing.save_settings(user=user, values={
        "auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("50.00"),
        "auto_recharge_amount": Decimal("100.00"), "auto_recharge_monthly_limit": None,
        "low_balance_alert": None, "monthly_spend_limit": None,
    })


def test_an_automatic_topup_names_itself_and_its_card(auth_client, user, stripe_sandbox, settings):
    settings.SITE_URL = "https://wallet.example"
    armed(user, stripe_sandbox)
    mail.outbox.clear()
    spend(user, "20.00")
    auto = TopUp.objects.get(is_automatic=True, status=TopUp.Status.SUCCEEDED)
    assert auto.automatic_label == LABEL
    # Where it happens: the wallet page's recent top-ups.
    assert LABEL in auth_client.get("/wallet/").content.decode()
    # In history (the ledger row's description, also in the export).
    assert LABEL in auth_client.get("/wallet/history/").content.decode()
    assert auto.credit_transaction.description == LABEL
    # The receipt says so, and how to turn it off.
    [receipt] = [m for m in mail.outbox if "added" in m.subject]
    assert "automatic top-up" in receipt.subject
    assert LABEL in receipt.body and "https://wallet.example/wallet/settings/" in receipt.body
    assert "turn off" in receipt.body
    # The settings page's list of recent automatic top-ups.
    assert LABEL in auth_client.get("/wallet/settings/").content.decode()


def test_a_manual_receipt_does_not_speak_of_automatic_topups(user, stripe_sandbox):
    services.start_topup(user=user, amount="60.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key="m")
    [receipt] = mail.outbox
    assert "receipt" in receipt.subject and "utomatic" not in receipt.body


def test_a_failed_automatic_topup_offers_the_way_to_fix_it(auth_client, user):
    auto = TopUp.objects.create(user=user, amount="100.00", currency="AED", idempotency_key="a",
                                is_automatic=True, status=TopUp.Status.FAILED, card_label="Visa ..3155",
                                failure_reason="Your bank asks you to confirm this payment.")
    for page in ("/wallet/", "/wallet/history/"):
        html = auth_client.get(page).content.decode()
        row = html[html.index(f'data-topup-id="{auto.pk}"'):]
        row = row[:row.index("</li>") if page == "/wallet/" else row.index("</tr>")]
        assert "Automatic top-up of 100.00 AED on Visa ..3155" in row
        assert "Authenticate now" in row and "/wallet/?amount=100.00" in row
        assert "Change card" in row and "/wallet/settings/" in row


def test_the_nav_poller_says_what_moved_the_balance(auth_client, user, stripe_sandbox):
    start = int(time.time()) - 1
    assert "automatic_topup" not in auth_client.get("/wallet/balance.json").json()  # the plain answer
    assert auth_client.get(f"/wallet/balance.json?automatic_since={start}").json()["automatic_topup"] is None
    armed(user, stripe_sandbox)
    spend(user, "20.00")
    answer = auth_client.get(f"/wallet/balance.json?automatic_since={start}").json()
    assert answer["automatic_topup"] == LABEL and answer["balance"] == "140.00"
    page = auth_client.get("/wallet/").content.decode()
    assert "data-automatic-note" in page and "automatic_since=" in page
