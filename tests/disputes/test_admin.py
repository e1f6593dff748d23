"""Ops in the admin: a dispute with the evidence Stripe asks for, submitted through the gateway; an
account held and released with a reason and the permission."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.disputes.conftest import DISPUTE_CARD
from wallet import services
from wallet.models import AccountHoldEvent, Dispute, TxType

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


def test_dispute_page_shows_the_evidence_and_submits_it_through_the_gateway(
    user, admin_client, pay, sandbox_events
):
    from django.test import Client

    pay(user, "100.00", DISPUTE_CARD, client_ip="203.0.113.9")
    services.debit(user=user, amount="12.50", type=TxType.AGENT_USAGE, description="Agent run: Phishing URL checker")
    sandbox_events.deliver(Client())
    dispute = Dispute.objects.get()

    page = admin_client.get(reverse("admin:wallet_dispute_change", args=[dispute.pk])).content.decode()
    assert 'id="dispute-evidence"' in page and user.email in page
    assert "Agent run: Phishing URL checker" in page and "Prepaid NetCop Wallet top-up of 100.00 AED" in page

    url = reverse("admin:wallet_dispute_evidence", args=[dispute.pk])
    form = admin_client.get(url)
    assert form.status_code == 200 and "Submit evidence to the bank" in form.content.decode()
    fields = {name: field.initial for name, field in form.context["form"].fields.items() if name != "confirm"}
    assert fields["customer_email_address"] == user.email and "12.50 AED" in fields["access_activity_log"]
    assert fields["customer_purchase_ip"] == "203.0.113.9"  # recorded with the top-up
    fields["uncategorized_text"] += " winning_evidence"  # Stripe's test mode: this evidence wins
    refused = admin_client.post(url, fields)  # not confirmed: nothing sent
    assert refused.status_code == 200 and Dispute.objects.get().evidence_submitted_at is None
    done = admin_client.post(url, {**fields, "confirm": "on"}, follow=True)
    assert "Evidence submitted to the bank" in done.content.decode()
    dispute.refresh_from_db()
    assert dispute.evidence_submitted_by == admin_client.staff and dispute.status == Dispute.Status.WON
    # Won: what the dispute took is back (87.50 taken, 12.50 owed cancelled).
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("87.50")
    again = admin_client.get(url, follow=True)
    assert "already submitted" in again.content.decode()


def test_evidence_page_needs_the_change_permission(user, client, make_user, pay, sandbox_events):
    from django.test import Client

    pay(user, "20.00", DISPUTE_CARD)
    sandbox_events.deliver(Client())
    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    client.force_login(viewer)
    dispute = Dispute.objects.get()
    assert client.get(reverse("admin:wallet_dispute_change", args=[dispute.pk])).status_code == 200
    assert client.get(reverse("admin:wallet_dispute_evidence", args=[dispute.pk])).status_code == 403


def test_hold_and_release_from_the_user_admin(user, admin_client, make_user, client):
    url = reverse("admin:authentication_user_hold", args=[user.pk])
    change = admin_client.get(reverse("admin:authentication_user_change", args=[user.pk])).content.decode()
    assert url in change and "Hold account" in change
    assert admin_client.post(url, {"reason": "  "}).status_code == 200  # a reason is required
    admin_client.post(url, {"reason": "We are checking a payment with your bank.", "action": "hold"}, follow=True)
    user.refresh_from_db()
    assert user.is_on_hold and user.hold_reason == "We are checking a payment with your bank."
    page = admin_client.get(url).content.decode()
    assert "Release the account" in page and 'id="hold-history"' in page
    admin_client.post(url, {"reason": "Bank confirmed the payment", "action": "release"}, follow=True)
    user.refresh_from_db()
    assert not user.is_on_hold
    assert list(AccountHoldEvent.objects.filter(user=user).values_list("action", flat=True).order_by("created_at")) == [
        "hold", "release"]

    clerk = make_user(is_staff=True, email=f"clerk-{uuid.uuid4().hex[:6]}@example.com")
    client.force_login(clerk)
    assert client.get(url).status_code == 403


def test_ledger_health_shows_the_money_invariant(user, admin_client, pay, sandbox_events):
    from django.test import Client

    pay(user, "100.00", DISPUTE_CARD)
    services.debit(user=user, amount="30.00", type=TxType.AGENT_USAGE, description="Agent run: x")
    sandbox_events.deliver(Client())
    page = admin_client.get(reverse("admin:wallet_ledger_health")).content.decode()
    assert 'id="money-invariant"' in page and 'data-invariant="ok"' in page
    assert "70.00 AED" in page and "30.00 AED" in page  # disputes taken, still owed
