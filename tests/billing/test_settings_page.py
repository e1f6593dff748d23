"""Issue 14: the billing settings page, save_card on create-payment-intent, the agent's 402."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents.models import Agent
from wallet import services
from wallet.exceptions import InvalidAmount
from wallet.models import BillingSettings, TopUp, TxType
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)
SETTINGS = "/wallet/settings/"


def form(**values):
    base = {"auto_recharge_threshold": "", "auto_recharge_amount": "", "auto_recharge_monthly_limit": "",
            "low_balance_alert": "", "monthly_spend_limit": ""}
    base.update(values)
    return base


def create(client, pm, *, save_card, amount="60.00"):
    body = {"amount": amount, "payment_method_id": pm, "idempotency_key": str(uuid.uuid4()), "save_card": save_card}
    return client.post("/wallet/create-payment-intent/", json.dumps(body), content_type="application/json")


def test_page_needs_login(client):
    assert client.get(SETTINGS).status_code == 302


def test_save_card_from_the_topup_endpoint_then_listed_and_removed(auth_client, user, stripe_sandbox):
    answer = create(auth_client, stripe_sandbox.card(), save_card=True)
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"
    page = auth_client.get(SETTINGS).content.decode()
    assert "ending 4242" in page and "Expires 12/2034" in page
    assert "Used for automatic top-ups" not in page  # auto-recharge is off: no badge (issue 18, item 10)
    pm = BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method
    assert pm
    assert auth_client.post(f"/wallet/settings/cards/{pm}/remove/").status_code == 302
    assert billing.saved_cards(user=user) == []
    assert "No saved cards yet" in auth_client.get(SETTINGS).content.decode()


def test_save_card_must_be_a_boolean(auth_client, stripe_sandbox):
    answer = create(auth_client, stripe_sandbox.card(), save_card="yes")
    assert answer.status_code == 400 and "save_card" in answer.json()["error"]
    assert not TopUp.objects.exists()


def test_removing_someone_elses_card_is_refused(auth_client, make_user, stripe_sandbox):
    other = make_user()
    services.start_topup(user=other, amount="20.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key="o", save_card=True)
    theirs = BillingSettings.objects.get(pk=other.pk).auto_recharge_payment_method
    answer = auth_client.post(f"/wallet/settings/cards/{theirs}/remove/", follow=True)
    assert "not one of your saved cards" in answer.content.decode()
    assert len(billing.saved_cards(user=other)) == 1


def test_enabling_without_a_card_and_invalid_amounts_are_explained(auth_client, stripe_sandbox):
    answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold="-1",
                                             auto_recharge_amount="0", low_balance_alert="abc"))
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Save a card first" in page
    assert "The threshold must be 0 or more." in page
    assert "The amount must be greater than zero." in page
    assert not BillingSettings.objects.filter(auto_recharge_enabled=True).exists()


def test_settings_saved_and_a_pause_re_armed_only_by_resume(auth_client, user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card(), save_card=True, amount="100.00")
    BillingSettings.objects.filter(pk=user.pk).update(auto_recharge_failures=3, auto_recharge_paused_at="2026-01-01T00:00Z")
    assert "Automatic top-ups are paused" in auth_client.get(SETTINGS).content.decode()
    answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold="20",
                                             auto_recharge_amount="50", auto_recharge_monthly_limit="500",
                                             low_balance_alert="30", monthly_spend_limit="1000"))
    assert answer.status_code == 302
    row = BillingSettings.objects.get(pk=user.pk)
    assert (row.auto_recharge_threshold, row.auto_recharge_amount) == (Decimal("20.00"), Decimal("50.00"))
    assert row.monthly_spend_limit == Decimal("1000.00") and not row.low_balance_alerted
    # A save keeps the pause (issue 18): the page offers the explicit resume instead.
    assert row.auto_recharge_enabled and row.auto_recharge_paused_at is not None and row.auto_recharge_failures == 3
    page = auth_client.get(SETTINGS).content.decode()
    assert "Automatic top-ups are paused" in page and 'action="/wallet/settings/resume/"' in page
    assert auth_client.post("/wallet/settings/resume/").status_code == 302
    row.refresh_from_db()
    assert row.auto_recharge_paused_at is None and row.auto_recharge_failures == 0
    page = auth_client.get(SETTINGS).content.decode()
    assert "Automatic top-ups are paused" not in page and "/wallet/settings/resume/" not in page


def test_the_threshold_is_bounded_and_a_cap_below_the_amount_refused(auth_client, user, stripe_sandbox, settings):
    """Issue 18, item 7: a threshold of 9,999,999,999.99 ("always below") and a monthly cap no top-up
    fits under are refused with a message; the page states the never-more-than-the-amount rule."""
    settings.WALLET_MAX_BALANCE = Decimal("10000.00")
    create(auth_client, stripe_sandbox.card(), save_card=True, amount="100.00")
    page = auth_client.get(SETTINGS).content.decode()
    assert "charges exactly this amount, never more" in page
    for threshold in ("9999999999.99", "9950.00"):
        answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold=threshold,
                                                 auto_recharge_amount="50"))
        assert answer.status_code == 400
        assert "The threshold must be below 9,950.00 AED" in answer.content.decode()
    answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold="20",
                                             auto_recharge_amount="50", auto_recharge_monthly_limit="40"))
    assert answer.status_code == 400 and "is below the amount of one top-up" in answer.content.decode()
    assert not BillingSettings.objects.filter(auto_recharge_enabled=True).exists()
    with pytest.raises(InvalidAmount):  # the service keeps the rule for any other caller
        billing.save_settings(user=user, values={"auto_recharge_enabled": True,
                                                 "auto_recharge_threshold": Decimal("9999999999.99"),
                                                 "auto_recharge_amount": Decimal("2.00")})
    answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold="9949.99",
                                             auto_recharge_amount="50", auto_recharge_monthly_limit="50"))
    assert answer.status_code == 302


def test_spend_limit_answers_402_with_code_and_the_agent_page_shows_usage(auth_client, user):
    services.credit(user=user, amount="100", type=TxType.ADJUSTMENT, description="funds")
    Agent.objects.create(name="Checker", slug="chk", description="", price=Decimal("4.00"),
                                 runner="phishing_url")
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("5.00"))

    def use():
        body = json.dumps({"input": "http://paypa1.com", "request_id": str(uuid.uuid4())})
        return auth_client.post("/agents/chk/use/", body, content_type="application/json")

    assert use().status_code == 200
    refused = use()
    assert refused.status_code == 402
    body = refused.json()
    assert body["code"] == "spend_limit" and body["limit"] == "5.00" and body["spent"] == "4.00"
    assert "monthly spend limit of 5.00 AED" in body["error"] and body["settings_url"] == SETTINGS
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("96.00")
    page = auth_client.get("/agents/chk/").content.decode()
    assert "4.00 AED of your 5.00 AED spend limit used" in page
    call_command("check_ledger")


def test_billing_settings_in_the_admin_flag_runaways(admin_client, user, settings):
    settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR = 1
    BillingSettings.objects.create(user=user, auto_recharge_enabled=True, auto_recharge_threshold=Decimal("10"),
                                   auto_recharge_amount=Decimal("20"))
    for i in range(2):
        entry = services.credit(user=user, amount="20", type=TxType.ADJUSTMENT)
        TopUp.objects.create(user=user, amount=Decimal("20"), currency="AED", idempotency_key=f"a{i}",
                             is_automatic=True, status=TopUp.Status.SUCCEEDED, credit_transaction=entry)
    page = admin_client.get("/admin/wallet/billingsettings/?runaway=yes").content.decode()
    assert user.email in page and "2 (runaway)" in page
    topups = admin_client.get("/admin/wallet/topup/?is_automatic__exact=1").content.decode()
    assert topups.count(user.email) >= 2


def test_choose_the_card_for_automatic_topups(auth_client, user, make_user, stripe_sandbox):
    create(auth_client, stripe_sandbox.card(), save_card=True)
    first = BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method
    create(auth_client, stripe_sandbox.card("5555555555554444"), save_card=True)
    second = [c.id for c in billing.saved_cards(user=user) if c.id != first][0]
    auth_client.post(f"/wallet/settings/cards/{second}/use/")
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method == second
    auth_client.post(f"/wallet/settings/cards/{first}/use/")
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method == first
    other = make_user()
    services.start_topup(user=other, amount="20.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key="x", save_card=True)
    theirs = BillingSettings.objects.get(pk=other.pk).auto_recharge_payment_method
    answer = auth_client.post(f"/wallet/settings/cards/{theirs}/use/", follow=True)
    assert "not one of your saved cards" in answer.content.decode()
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_payment_method == first


def test_an_expired_card_is_marked_expired(auth_client, user, monkeypatch):
    from wallet.payments import SavedCard

    cards = [SavedCard(id="pm_old", brand="visa", last4="1111", exp_month=1, exp_year=2020),
             SavedCard(id="pm_new", brand="mastercard", last4="4444", exp_month=12, exp_year=2099)]
    monkeypatch.setattr(billing, "saved_cards", lambda user: cards)
    BillingSettings.objects.create(user=user, stripe_customer_id="cus_x", auto_recharge_payment_method="pm_new")
    page = auth_client.get(SETTINGS).content.decode()
    old = page[page.index("ending 1111"):page.index("ending 4444")]
    assert "Expired" in old and "for automatic top-ups</button>" not in old
    # An expired card alone does not count as a card that can be charged.
    monkeypatch.setattr(billing, "saved_cards", lambda user: cards[:1])
    answer = auth_client.post(SETTINGS, form(auto_recharge_enabled="on", auto_recharge_threshold="10",
                                             auto_recharge_amount="20"))
    assert answer.status_code == 400 and "Save a card first" in answer.content.decode()
