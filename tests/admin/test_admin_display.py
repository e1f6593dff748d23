"""Issue 18, the admin: a NUL in any admin URL answers 404 (item 3; PostgreSQL refused it with a 500),
and what the admin shows: card brand and last4 instead of raw ids, readable object names, one date
format (item 18)."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from authentication.models import User
from wallet import admin as admin_module
from wallet import services
from wallet.models import BillingSettings, TopUp

REGISTERED = sorted(admin_site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def superuser_client(make_user):
    client = Client()  # not the `client` fixture: auth_client logs that one in as the customer
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_a_nul_in_any_admin_url_answers_404(superuser_client, model):
    # /admin/wallet/stripeevent/%00/change/ answered 500 on PostgreSQL (it refuses NUL in text).
    info = model._meta.app_label, model._meta.model_name
    changelist = reverse(f"admin:{info[0]}_{info[1]}_changelist")
    for path in (f"{changelist}%00/change/", f"{changelist}%00/history/", f"{changelist}%00/delete/",
                 f"{changelist}a%00b/change/", f"{changelist}?q=%00", f"{changelist}?q=a%00b",
                 f"{changelist}?id__exact=%00", f"{changelist}?%00=1"):
        assert superuser_client.get(path).status_code == 404, path


@pytest.mark.django_db
def test_a_nul_outside_the_admin_answers_404_too(client):
    assert client.get("/wallet/%00/").status_code == 404
    assert client.get("/accounts/login/?next=%00").status_code == 404


@pytest.mark.django_db
def test_the_nul_404_carries_the_security_headers_of_any_other_page(client):
    refused, missing = client.get("/agents/nope%00/"), client.get("/definitely-missing/")
    assert refused.status_code == missing.status_code == 404
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert refused.get(header) == missing.get(header) and missing.get(header), header


# --- what the admin shows ---------------------------------------------------------------------------

def save_card(client, pm):
    body = {"amount": "60.00", "payment_method_id": pm, "idempotency_key": str(uuid.uuid4()), "save_card": True}
    answer = client.post("/wallet/create-payment-intent/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_billing_settings_show_the_card_by_brand_and_last4_and_the_owner(auth_client, user, superuser_client,
                                                                         stripe_sandbox):
    save_card(auth_client, stripe_sandbox.card())
    billing = BillingSettings.objects.get(pk=user.pk)
    card_id = billing.auto_recharge_payment_method
    assert card_id
    assert str(billing) == f"Billing settings of {user.email}"  # was "Billing settings of user 4"
    page = superuser_client.get(reverse("admin:wallet_billingsettings_change", args=[user.pk])).content.decode()
    assert "Visa ending 4242, expires 12/2034" in page
    assert card_id not in page
    assert f"Billing settings of {user.email}" in page


@pytest.mark.django_db
def test_billing_settings_name_a_card_stripe_no_longer_has(user, superuser_client, stripe_sandbox):
    customer = stripe_sandbox.request("POST", "/v1/customers", {"email": user.email})["id"]
    BillingSettings.objects.create(user=user, stripe_customer_id=customer, auto_recharge_payment_method="pm_gone")
    page = superuser_client.get(reverse("admin:wallet_billingsettings_change", args=[user.pk])).content.decode()
    assert "No longer saved at Stripe: pm_gone" in page


@pytest.mark.django_db
def test_staff_without_the_billing_view_permission_cannot_make_the_admin_ask_stripe(user, client, make_user,
                                                                                   monkeypatch):
    BillingSettings.objects.create(user=user, stripe_customer_id="cus_x", auto_recharge_payment_method="pm_x")
    asked = []
    monkeypatch.setattr(admin_module, "saved_cards", lambda **kw: asked.append(kw) or [])
    client.force_login(make_user(email="staff@example.com", is_staff=True))
    response = client.get(reverse("admin:wallet_billingsettings_change", args=[user.pk]))
    assert response.status_code == 403 and asked == []


@pytest.mark.django_db
def test_the_admin_writes_dates_one_way(superuser_client, make_user, settings):
    settings.TIME_ZONE = "UTC"
    when = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
    user = make_user(email="dates@example.com")
    User.objects.filter(pk=user.pk).update(date_joined=when, last_login=when)
    entry = services.credit(user=user, amount="5.00", type=services.TxType.ADJUSTMENT, description="d")
    now = timezone.localtime(entry.created_at)
    pages = [
        superuser_client.get(reverse("admin:authentication_user_change", args=[user.pk])),
        superuser_client.get(reverse("admin:wallet_wallettransaction_change", args=[entry.pk])),
        superuser_client.get(reverse("admin:wallet_wallettransaction_changelist")),
    ]
    html = "\n".join(page.content.decode() for page in pages)
    assert "7 Dec 2026, 09:05" in html  # date joined, last login
    assert f"{now.day} {now:%b %Y, %H:%M}" in html  # the ledger entry's created_at
    # Django's English defaults ("Dec. 7, 2026, 9:05 a.m."), zero-padded days and ISO dates, all gone.
    for other in ("Dec. 7", "07 Dec", "2026-12-07 09:05", "a.m.", "p.m.", "midnight", "noon"):
        assert other not in html, other


@pytest.mark.django_db
def test_a_failed_automatic_topup_notice_writes_the_date_like_every_page(user, monkeypatch, settings):
    settings.TIME_ZONE = "UTC"
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 7, 9, 5, tzinfo=UTC))
    BillingSettings.objects.create(user=user, auto_recharge_enabled=True, auto_recharge_threshold=Decimal("10"),
                                   auto_recharge_amount=Decimal("20"))
    topup = TopUp.objects.create(user=user, amount=Decimal("20"), currency="AED", idempotency_key="auto-1",
                                 is_automatic=True)
    services.mark_topup(topup.pk, status=TopUp.Status.FAILED, failure_reason="Declined.")
    notice = BillingSettings.objects.get(pk=user.pk).auto_recharge_notice
    assert "on 7 Dec 2026 failed" in notice  # was "on 07 Dec 2026"
