"""The admin as ops people meet it: a 403 page that says why, readable list pages, reconcile
messages in words, help text shown as written."""

import re
from decimal import Decimal

import pytest
from django.contrib import admin, messages
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from wallet import services
from wallet.admin_actions import reconcile_with_stripe
from wallet.models import TopUp, TxType, WalletTransaction
from wallet.reconcile import Outcome

pytestmark = pytest.mark.django_db

LEDGER = "/admin/wallet/wallettransaction/"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def text_of(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- 403 page -------------------------------------------------------------------------------------

def test_changing_the_ledger_explains_why_on_a_styled_403(admin_client, user):
    row = services.credit(user=user, amount=Decimal("10.00"), type=TxType.ADJUSTMENT)
    for resp in (admin_client.get(LEDGER + "add/"),
                 admin_client.post(LEDGER + f"{row.pk}/change/", {"amount": "99.00"}),
                 admin_client.get(LEDGER + f"{row.pk}/delete/"),
                 admin_client.post(LEDGER + f"{row.pk}/delete/", {"post": "yes"})):
        assert resp.status_code == 403
        body = text_of(resp)
        assert "Ledger entries cannot be changed or deleted; make an adjustment instead" in body
        assert "NetCop Wallet operations" in body  # the admin's own look, not a bare "403 Forbidden"
        assert f'href="{LEDGER}"' in resp.content.decode()  # a way back to the list
    row.refresh_from_db()
    assert row.amount == Decimal("10.00")


@pytest.mark.parametrize(("model", "reason"), [
    ("topup", "Top-ups follow Stripe and cannot be edited here"),
    ("stripeevent", "Stripe events are kept exactly as Stripe sent them"),
    ("cardrefund", "Refunds cannot be changed here"),
])
def test_every_read_only_record_says_why(admin_client, model, reason):
    resp = admin_client.get(f"/admin/wallet/{model}/add/")
    assert resp.status_code == 403 and reason in text_of(resp)


def test_a_refusal_without_a_reason_gets_the_generic_explanation(client, make_user):
    staff = make_user(email="clerk@example.com", is_staff=True)
    client.force_login(staff)
    resp = client.get(LEDGER)  # staff, but not granted the ledger
    assert resp.status_code == 403
    assert "does not have the permission this page needs" in text_of(resp)
    assert "Ledger entries cannot be changed" not in text_of(resp)


def test_site_403_page_never_shows_internal_exception_text(rf, make_user):
    from netcop_hub.views import PermissionDeniedWithReason, permission_denied

    request = rf.get("/wallet/")
    request.user = make_user(email="someone@example.com")
    resp = permission_denied(request, PermissionDenied("internal detail: row 42 locked by worker"))
    assert resp.status_code == 403 and b"internal detail" not in resp.content
    assert b"ask an administrator" in resp.content
    resp = permission_denied(request, PermissionDeniedWithReason("Only the owner can see this top-up."))
    assert b"Only the owner can see this top-up." in resp.content


# --- agent admin help text --------------------------------------------------------------------------

def test_agent_slug_help_text_shows_the_address_literally(admin_client):
    body = admin_client.get("/admin/agents/agent/add/").content.decode()
    assert "/agents/&lt;slug&gt;/" in body and "/agents/<slug>/" not in body


# --- list pages ------------------------------------------------------------------------------------

def header_count(html):
    thead = html[html.index("<thead>"):html.index("</thead>")]
    return len(re.findall(r'<th scope="col"', thead))


def test_list_pages_have_few_narrow_columns(admin_client, user):
    services.credit(user=user, amount=Decimal("10.00"), type=TxType.ADJUSTMENT, description="x" * 200)
    TopUp.objects.create(user=user, amount=Decimal("5.00"), currency="AED", idempotency_key="k")
    ledger = admin_client.get(LEDGER).content.decode()
    assert header_count(ledger) <= 6
    assert "x" * 60 not in ledger  # long descriptions are cut in the list
    topups = admin_client.get("/admin/wallet/topup/").content.decode()
    assert header_count(topups) <= 6 and "5.00 AED" in topups
    users = admin_client.get("/admin/authentication/user/").content.decode()
    assert header_count(users) <= 6 and "0.00 AED" in users
    # Django's long "Nov. 27, 2026, 8:45 a.m." is replaced by "27 Nov 2026, 08:45".
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}", ledger)


# --- reconcile messages ----------------------------------------------------------------------------

def run_reconcile(monkeypatch, make_user, topup, outcome, status=None, intent="pi_3AbCdEfGhIjK"):
    def fake_reconcile_one(t):
        if status:
            TopUp.objects.filter(pk=t.pk).update(status=status)
        return outcome

    monkeypatch.setattr("wallet.admin_actions.reconcile_one", fake_reconcile_one)
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id=intent)
    request = RequestFactory().post("/admin/wallet/topup/")
    request.user = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    request.session = {}
    request._messages = FallbackStorage(request)
    reconcile_with_stripe(admin.ModelAdmin(TopUp, admin.site), request, TopUp.objects.filter(pk=topup.pk))
    return [(m.level, str(m)) for m in get_messages(request)]


@pytest.fixture
def pending_topup(make_user):
    owner = make_user(email="x@y.example")
    return TopUp.objects.create(user=owner, amount=Decimal("75.50"), currency="AED", idempotency_key="r1",
                                status=TopUp.Status.REQUIRES_ACTION)


def test_reconcile_waiting_for_3ds_is_a_warning_in_words(monkeypatch, make_user, pending_topup):
    got = run_reconcile(monkeypatch, make_user, pending_topup,
                        Outcome("settled", "still awaiting authentication (requires_action)"))
    assert got == [(messages.WARNING,
                    "75.50 AED from x@y.example is still waiting for 3-D Secure (pi_3AbCdEfGhIjK).")]


def test_reconcile_credited_is_a_success_with_the_id_in_its_real_case(monkeypatch, make_user, pending_topup):
    got = run_reconcile(monkeypatch, make_user, pending_topup, Outcome("credited", "credited"))
    assert got == [(messages.SUCCESS, "75.50 AED from x@y.example was credited to the wallet (pi_3AbCdEfGhIjK).")]


def test_reconcile_error_is_an_error(monkeypatch, make_user, pending_topup):
    got = run_reconcile(monkeypatch, make_user, pending_topup, Outcome("error", "TopUpMismatch", ok=False))
    assert got[0][0] == messages.ERROR and got[0][1].startswith("75.50 AED from x@y.example could not be settled")
    assert "TopUpMismatch" not in got[0][1]


def test_reconcile_unreachable_stripe_says_so(monkeypatch, make_user, pending_topup):
    from wallet.exceptions import PaymentProviderUnavailable

    def down(t):
        raise PaymentProviderUnavailable("down")

    monkeypatch.setattr("wallet.admin_actions.reconcile_one", down)
    request = RequestFactory().post("/admin/wallet/topup/")
    request.user = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    request.session = {}
    request._messages = FallbackStorage(request)
    reconcile_with_stripe(admin.ModelAdmin(TopUp, admin.site), request, TopUp.objects.all())
    [(level, text)] = [(m.level, str(m)) for m in get_messages(request)]
    assert level == messages.ERROR and text == (
        "75.50 AED from x@y.example could not be checked: Stripe is unreachable. Try again later.")
    assert WalletTransaction.objects.count() == 0
