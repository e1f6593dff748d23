"""Admin for ops: read-only ledger with totals and search, adjust balance, ledger health, staff only."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wallet import services
from wallet.models import CardRefund, StripeEvent, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

LEDGER = "/admin/wallet/wallettransaction/"
HEALTH = "/admin/wallet/wallettransaction/health/"


@pytest.fixture
def superuser(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def staff(make_user):
    return make_user(email="ops@example.com", is_staff=True)


def adjust_url(user):
    return reverse("admin:authentication_user_adjust_balance", args=[user.pk])


def credit(user, amount, **kw):
    kw.setdefault("type", TxType.ADJUSTMENT)
    return services.credit(user=user, amount=Decimal(amount), **kw)


# --- Only staff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/admin/", LEDGER, HEALTH, "/admin/wallet/topup/", "/admin/authentication/user/"],
)
def test_non_staff_user_is_sent_to_the_admin_login_and_sees_no_data(client, make_user, url):
    make_user(email="secret@example.com", balance=Decimal("77.00"))
    person = make_user(email="customer@example.com", balance=Decimal("42.00"))
    client.force_login(person)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "You are authenticated as customer@example.com, but are not authorized" in body
    assert "secret@example.com" not in body and "77.00" not in body and "42.00" not in body
    assert "Ledger" not in body and "result_list" not in body


def test_non_staff_cannot_adjust(client, make_user):
    person = make_user()
    client.force_login(person)
    response = client.post(adjust_url(person), {"amount": "1000.00", "reason": "gift"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not WalletTransaction.objects.filter(user=person).exists()


def test_anonymous_is_sent_to_login(client):
    assert client.get(LEDGER)["Location"].startswith("/admin/login/")


# --- Ledger: read-only for everyone ------------------------------------------------------------


def test_ledger_is_read_only_for_superusers(admin_client, user):
    row = credit(user, "10.00")
    assert admin_client.get(LEDGER + "add/").status_code == 403
    change = admin_client.get(LEDGER + f"{row.pk}/change/")
    assert change.status_code == 200
    body = change.content.decode()
    assert 'name="_save"' not in body and 'name="amount"' not in body  # a view page, no form
    assert admin_client.post(LEDGER + f"{row.pk}/change/", {"amount": "99.00"}).status_code == 403
    assert admin_client.get(LEDGER + f"{row.pk}/delete/").status_code == 403
    assert admin_client.post(LEDGER + f"{row.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = admin_client.get(LEDGER).content.decode()
    assert 'value="delete_selected"' not in listing and LEDGER + "add/" not in listing
    bulk = admin_client.post(LEDGER, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    row.refresh_from_db()
    assert row.amount == Decimal("10.00") and WalletTransaction.objects.filter(pk=row.pk).exists()


def test_other_wallet_records_are_read_only_too(admin_client, user):
    topup = TopUp.objects.create(user=user, amount=Decimal("5.00"), currency="AED", idempotency_key="a")
    event = StripeEvent.objects.create(id="evt_1", type="payment_intent.succeeded", payload={"id": "evt_1"})
    row = credit(user, "5.00")
    refund = CardRefund.objects.create(topup=topup, amount=Decimal("1.00"), reason="test")
    for model, obj in ((TopUp, topup), (StripeEvent, event), (CardRefund, refund), (WalletTransaction, row)):
        base = f"/admin/wallet/{model._meta.model_name}/"
        assert admin_client.get(base).status_code == 200, model
        assert admin_client.get(base + "add/").status_code == 403, model
        assert admin_client.get(base + f"{obj.pk}/change/").status_code == 200, model
        assert admin_client.get(base + f"{obj.pk}/delete/").status_code == 403, model


def test_topup_list_filters_by_status_and_searches_intent(admin_client, user):
    TopUp.objects.create(user=user, amount=Decimal("5.00"), currency="AED", idempotency_key="a", stripe_payment_intent_id="pi_pending_one")
    TopUp.objects.create(user=user, amount=Decimal("6.00"), currency="AED", idempotency_key="b", status=TopUp.Status.FAILED, stripe_payment_intent_id="pi_failed_one")
    # The list shows amounts, not intent ids (those are on each top-up's page and searchable).
    failed = admin_client.get("/admin/wallet/topup/", {"status__exact": "failed"}).content.decode()
    assert "6.00 AED" in failed and "5.00 AED" not in failed
    found = admin_client.get("/admin/wallet/topup/", {"q": "pi_pending_one"}).content.decode()
    assert "5.00 AED" in found and "6.00 AED" not in found


def test_staff_need_the_view_permission_and_still_cannot_change_the_ledger(client, staff, user):
    from django.contrib.auth.models import Permission

    row = credit(user, "3.00")
    client.force_login(staff)
    assert client.get(LEDGER).status_code == 403  # staff, but not granted the ledger
    staff.user_permissions.add(Permission.objects.get(codename="view_wallettransaction"))
    assert client.get(LEDGER).status_code == 200
    assert client.get(LEDGER + f"{row.pk}/change/").status_code == 200
    assert client.get(LEDGER + "add/").status_code == 403
    assert client.get(LEDGER + f"{row.pk}/delete/").status_code == 403


# --- Ledger: filters, search, totals -----------------------------------------------------------


def _listed(response):
    return set(re.findall(r'/admin/wallet/wallettransaction/([0-9a-f-]{36})/change/', response.content.decode()))


def test_ledger_filters_search_and_totals_for_the_filtered_set(admin_client, make_user):
    alice = make_user(email="alice@example.com")
    bob = make_user(email="bob@example.com")
    a1 = credit(alice, "100.00", type=TxType.TOP_UP, stripe_payment_intent_id="pi_alice_1")
    a2 = services.debit(user=alice, amount=Decimal("30.50"), type=TxType.AGENT_USAGE)
    b1 = credit(bob, "7.25")

    everything = admin_client.get(LEDGER)
    assert _listed(everything) == {str(a1.pk), str(a2.pk), str(b1.pk)}
    totals = everything.context_data["ledger_totals"]
    assert totals == {"rows": 3, "net": Decimal("76.75"), "credits": Decimal("107.25"), "debits": Decimal("-30.50")}
    assert 'data-total="net"><strong>76.75 AED' in everything.content.decode()

    by_type = admin_client.get(LEDGER, {"type__exact": "agent_usage"})
    assert _listed(by_type) == {str(a2.pk)}
    assert by_type.context_data["ledger_totals"]["net"] == Decimal("-30.50")
    assert "the filtered set" in by_type.content.decode()

    by_email = admin_client.get(LEDGER, {"q": "alice@"})
    assert _listed(by_email) == {str(a1.pk), str(a2.pk)}
    assert by_email.context_data["ledger_totals"] == {"rows": 2, "net": Decimal("69.50"), "credits": Decimal("100.00"), "debits": Decimal("-30.50")}

    assert _listed(admin_client.get(LEDGER, {"q": str(b1.pk)})) == {str(b1.pk)}
    assert _listed(admin_client.get(LEDGER, {"q": "pi_alice_1"})) == {str(a1.pk)}
    assert _listed(admin_client.get(LEDGER, {"user__id__exact": bob.pk})) == {str(b1.pk)}

    today = admin_client.get(LEDGER, {"created_at__gte": "2000-01-01 00:00:00+04:00", "created_at__lt": "2000-01-02 00:00:00+04:00"})
    assert _listed(today) == set()
    assert today.context_data["ledger_totals"] == {"rows": 0, "net": Decimal("0.00"), "credits": Decimal("0.00"), "debits": Decimal("0.00")}


def test_ledger_changelist_has_no_n_plus_one(admin_client, make_user):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(LEDGER).status_code == 200
        return len(ctx)

    first = make_user()
    credit(first, "1.00")
    few = count()
    for _ in range(15):
        person = make_user()
        credit(person, "1.00")
        services.adjust(user=person, amount=Decimal("-0.50"), reason="fix", staff=first)
    assert count() == few


# --- Users -------------------------------------------------------------------------------------


def test_user_admin_search_balance_read_only_latest_rows_and_ledger_link(admin_client, make_user):
    person = make_user(email="findme@example.com")
    for i in range(25):
        credit(person, "1.00", description=f"row-{i:02d}")
    make_user(email="other@example.com")
    found = admin_client.get("/admin/authentication/user/", {"q": "findme"}).content.decode()
    assert "findme@example.com" in found and "other@example.com" not in found

    change_url = reverse("admin:authentication_user_change", args=[person.pk])
    body = admin_client.get(change_url).content.decode()
    assert 'name="wallet_balance"' not in body and "25.00" in body
    table = re.search(r'<table class="ledger-mini" id="latest-transactions">.*?</table>', body, re.S).group(0)
    assert table.count("<tr>") == 21  # header + the latest 20
    assert "row-24" in table and "row-05" in table and "row-04" not in table
    ledger_link = f"{LEDGER}?user__id__exact={person.pk}"
    assert ledger_link in body
    assert adjust_url(person) in body

    # A POST of the change form cannot move the balance.
    admin_client.post(change_url, {"email": person.email, "username": "x", "wallet_balance": "999999", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    person.refresh_from_db()
    assert person.wallet_balance == Decimal("25.00")


# --- Adjust balance ----------------------------------------------------------------------------


def _review(client, user, amount, reason):
    response = client.post(adjust_url(user), {"amount": amount, "reason": reason})
    assert response.status_code == 200
    match = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    return response, (match.group(1) if match else None)


def test_adjustment_credits_with_confirmation_and_records_who_and_why(admin_client, superuser, user):
    form = admin_client.get(adjust_url(user))
    assert form.status_code == 200 and 'name="amount"' in form.content.decode()
    review, token = _review(admin_client, user, "25.00", "  Goodwill for outage #42 ")
    body = review.content.decode()
    assert token and "Confirm the adjustment" in body and "25.00 AED" in body
    assert "Goodwill for outage #42" in body
    assert not WalletTransaction.objects.filter(user=user).exists(), "nothing written before confirming"

    done = admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}, follow=True)
    row = WalletTransaction.objects.get(user=user)
    assert row.type == TxType.ADJUSTMENT and row.amount == Decimal("25.00")
    assert row.created_by == superuser
    assert row.description == "Adjustment: Goodwill for outage #42"
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")
    assert "Credited 25.00 AED to alice@example.com. New balance: 25.00 AED" in done.content.decode()
    assert done.redirect_chain[-1][0] == reverse("admin:authentication_user_change", args=[user.pk])

    # The same confirmation submitted twice adjusts once.
    again = admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}, follow=True)
    assert "already submitted" in again.content.decode()
    assert WalletTransaction.objects.filter(user=user).count() == 1


def test_adjustment_debit_and_refusal_below_zero(admin_client, user):
    credit(user, "10.00")
    _, token = _review(admin_client, user, "-4.50", "Duplicate credit")
    admin_client.post(adjust_url(user), {"token": token, "confirm": "1"})
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("5.50")
    # Refused at the first step: no confirmation is offered for what would be refused.
    review, token = _review(admin_client, user, "-6.00", "Too much")
    assert token is None
    assert "The balance is 5.50 AED: at most 5.50 AED can be debited." in review.content.decode()
    # Reviewed while the balance sufficed, confirmed after it no longer does: refused at the last step.
    _, token = _review(admin_client, user, "-5.00", "Raced")
    services.debit(user=user, amount="1.00", type=TxType.AGENT_USAGE, description="spent meanwhile")
    refused = admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}, follow=True)
    assert "would take the balance below zero (it is 4.50 AED)" in refused.content.decode()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("4.50")
    assert WalletTransaction.objects.filter(user=user).count() == 3


@pytest.mark.parametrize(
    "data, error",
    [
        ({"amount": "10.00", "reason": ""}, "This field is required."),
        ({"amount": "10.00", "reason": "   "}, "This field is required."),
        ({"amount": "0", "reason": "x"}, "Enter a non-zero amount."),
        ({"amount": "1.005", "reason": "x"}, "Enter an amount like 100 or 100.50."),
        ({"amount": "abc", "reason": "x"}, "Enter an amount like 100 or 100.50."),
        ({"amount": "1e2", "reason": "x"}, "Enter an amount like 100 or 100.50."),
        ({"amount": "+12", "reason": "x"}, "Enter an amount like 100 or 100.50."),
    ],
)
def test_adjustment_form_requires_reason_and_valid_amount(admin_client, user, data, error):
    response = admin_client.post(adjust_url(user), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert 'name="token"' not in response.content.decode()
    assert not WalletTransaction.objects.filter(user=user).exists()


def test_tampered_or_foreign_token_is_refused(admin_client, user, make_user):
    other = make_user()
    _, token = _review(admin_client, other, "5.00", "for other")
    assert admin_client.post(adjust_url(user), {"token": token, "confirm": "1"}).status_code == 302
    assert admin_client.post(adjust_url(user), {"token": token[:-2] + "xx", "confirm": "1"}).status_code == 302
    assert not WalletTransaction.objects.exists()


def test_staff_without_ledger_add_permission_cannot_adjust(client, staff, user):
    client.force_login(staff)
    assert client.get(adjust_url(user)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_wallettransaction"))
    assert client.get(adjust_url(user)).status_code == 200


# --- Ledger health -----------------------------------------------------------------------------


def test_ledger_health_page_shows_check_ledger_result(admin_client, make_user):
    person = make_user(balance=Decimal("12.00"))
    body = admin_client.get(HEALTH).content.decode()
    assert 'data-health="ok"' in body and "Users checked" in body and "12.00" in body
    assert HEALTH in admin_client.get(LEDGER).content.decode()
    assert HEALTH in admin_client.get("/admin/").content.decode()
    # Break the invariant past the services (a raw UPDATE) and the page must say so.
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=person.pk).update(wallet_balance=Decimal("13.00"))
    broken = admin_client.get(HEALTH).content.decode()
    assert 'data-health="problems"' in broken
    assert person.email in broken and "balance != sum of ledger" in broken


def test_ledger_health_is_staff_only(client, make_user):
    client.force_login(make_user())
    assert client.get(HEALTH)["Location"].startswith("/admin/login/")
