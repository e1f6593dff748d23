"""Refunds to the card against a real localstripe: caps, ordering, Stripe refusing or unreachable, admin."""

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from wallet import payments, reconcile, services
from wallet.exceptions import InvalidAmount, PaymentProviderUnavailable, RefundNotAllowed
from wallet.models import CardRefund, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    return make_user(is_staff=True, is_superuser=True)


def settled(user, amount="100.00"):
    result = services.start_topup(
        user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.credited_now
    return result.topup


def refunded_at_stripe(sandbox, intent_id: str) -> int:
    intent = sandbox.request("GET", f"/v1/payment_intents/{intent_id}")
    charge = intent["latest_charge"]
    charge_id = charge["id"] if isinstance(charge, dict) else charge
    return sandbox.request("GET", f"/v1/charges/{charge_id}")["amount_refunded"]


def test_full_refund(user, staff, stripe_sandbox):
    topup = settled(user)
    refund = services.refund_topup(topup=topup, amount="100.00", reason="Customer closed account", staff=staff)
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.stripe_refund_id.startswith("re_")
    assert refund.requested_by == staff and refund.reason == "Customer closed account"
    entry = refund.debit_transaction
    assert entry.type == TxType.CARD_REFUND and entry.amount == Decimal("-100.00") and entry.created_by == staff
    assert entry.stripe_payment_intent_id == topup.stripe_payment_intent_id
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 10000


def test_partial_refunds_up_to_the_remainder(user, staff, stripe_sandbox):
    topup = settled(user)
    services.refund_topup(topup=topup, amount="30.00", reason="partial", staff=staff)
    services.refund_topup(topup=topup, amount="50.00", reason="partial", staff=staff)
    assert services.refundable_amount(topup) == Decimal("20.00")
    with pytest.raises(RefundNotAllowed, match=r"At most 20\.00 AED of this top-up can still be refunded"):
        services.refund_topup(topup=topup, amount="20.01", reason="too much", staff=staff)
    assert CardRefund.objects.count() == 2
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 8000
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("20.00")


def test_refund_never_exceeds_the_balance(user, staff, stripe_sandbox):
    topup = settled(user)
    services.debit(user=user, amount="75.00", type=TxType.AGENT_USAGE, description="spent")
    with pytest.raises(RefundNotAllowed, match=r"The wallet holds only 25\.00 AED"):
        services.refund_topup(topup=topup, amount="30.00", reason="r", staff=staff)
    assert not CardRefund.objects.exists()
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 0
    services.refund_topup(topup=topup, amount="25.00", reason="r", staff=staff)
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("0.00")


@pytest.mark.parametrize(
    ("amount", "reason", "error", "message"),
    [("0", "r", InvalidAmount, "greater than zero"), ("-5", "r", InvalidAmount, "greater than zero"),
     ("1.001", "r", InvalidAmount, "Enter an amount like"), ("10", "   ", RefundNotAllowed, "A reason is required")],
)
def test_bad_requests_are_refused(amount, reason, error, message, user, staff, stripe_sandbox):
    topup = settled(user)
    with pytest.raises(error, match=message):
        services.refund_topup(topup=topup, amount=amount, reason=reason, staff=staff)
    assert not CardRefund.objects.exists()


def test_only_succeeded_topups_can_be_refunded(user, staff, stripe_sandbox):
    pending = TopUp.objects.create(user=user, amount=Decimal("10.00"), currency="AED", idempotency_key="p")
    with pytest.raises(RefundNotAllowed, match="Only a succeeded top-up"):
        services.refund_topup(topup=pending, amount="5.00", reason="r", staff=staff)


def test_stripe_refusing_restores_the_balance(user, staff, stripe_sandbox):
    topup = settled(user)
    # Point our record at an intent Stripe does not know: Stripe answers 404 (a refusal).
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id="pi_unknown_to_stripe")
    topup.refresh_from_db()
    refund = services.refund_topup(topup=topup, amount="40.00", reason="test refusal", staff=staff)
    assert refund.status == CardRefund.Status.FAILED and refund.failure_reason == "Stripe refused the refund."
    assert refund.debit_transaction.amount == Decimal("-40.00")
    assert refund.reversal_transaction.amount == Decimal("40.00")
    assert refund.reversal_transaction.description.startswith("Refund reversed:")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00")
    assert services.refundable_amount(topup) == Decimal("100.00")  # a failed refund takes nothing


def test_stripe_unreachable_leaves_it_pending_and_reconcile_finishes_it(user, staff, stripe_sandbox, monkeypatch):
    topup = settled(user)
    real_create = payments.create_refund

    def unreachable(**kwargs):
        raise PaymentProviderUnavailable("The payment provider could not be reached.")

    monkeypatch.setattr(payments, "create_refund", unreachable)
    refund = services.refund_topup(topup=topup, amount="60.00", reason="outage", staff=staff)
    assert refund.status == CardRefund.Status.PENDING
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")  # stays debited: the money may have left
    assert services.refundable_amount(topup) == Decimal("40.00")

    report = reconcile.reconcile_topups(older_than=timedelta(0), limit=10, dry_run=False)
    assert report.counts == {"error": 1} and "left pending" in report.lines[0]

    seen_keys = []

    def recording(**kwargs):
        seen_keys.append(kwargs["idempotency_key"])
        return real_create(**kwargs)

    monkeypatch.setattr(payments, "create_refund", recording)
    report = reconcile.reconcile_topups(older_than=timedelta(0), limit=10, dry_run=False)
    assert report.counts == {"refunded": 1}
    assert seen_keys == [f"refund-{refund.pk}"]  # the same key as the first attempt
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.SUCCEEDED
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 6000
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_topup(make_user, stripe_sandbox):
    from tests.concurrency import run_concurrently

    user = make_user()
    staff = make_user(is_staff=True)
    topup = settled(user)
    services.credit(user=user, amount="500.00", type=TxType.ADJUSTMENT, description="more funds")

    results = run_concurrently(
        lambda i: services.refund_topup(topup=topup, amount="30.00", reason=f"r{i}", staff=staff), 6
    )
    done = [r for r in results if isinstance(r, CardRefund)]
    refused = [r for r in results if isinstance(r, RefundNotAllowed)]
    assert len(done) == 3 and len(refused) == 3, results
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 9000
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("510.00")
    call_command("check_ledger", stdout=StringIO())


# --- the admin action -----------------------------------------------------------------------------------


def _admin_request(rf, user, data):
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = rf.post("/admin/wallet/topup/", data)
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def _request_key(html: str) -> str:
    import re

    return re.search(r'name="request_key" value="([0-9a-f-]{36})"', html).group(1)


def _messages(request):
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(request)]


def test_admin_refund_action(user, staff, stripe_sandbox, rf):
    from django.contrib import admin

    from wallet.admin_actions import refund_to_card

    topup = settled(user)
    services.debit(user=user, amount="20.00", type=TxType.AGENT_USAGE, description="spent")
    modeladmin = admin.ModelAdmin(TopUp, admin.site)
    selected = TopUp.objects.filter(pk=topup.pk)

    # First the form: empty (the amount is a decision), with the limits shown.
    page = refund_to_card(modeladmin, _admin_request(rf, staff, {"action": "refund_to_card"}), selected)
    page.render()
    html = page.content.decode()
    assert page.status_code == 200 and "data-balance>80.00 AED<" in html and "Refund to card" in html
    key = _request_key(html)

    # Over the balance: the form comes back with the message; nothing written.
    request = _admin_request(
        rf, staff,
        {"apply": "yes", "amount": "90.00", "customer_reason": "duplicate", "reason": "too much", "request_key": key},
    )
    page = refund_to_card(modeladmin, request, selected)
    page.render()
    assert "The wallet holds only 80.00 AED" in page.content.decode()
    assert not CardRefund.objects.exists()

    # A reason is mandatory.
    page = refund_to_card(
        modeladmin, _admin_request(rf, staff, {"apply": "yes", "amount": "5", "request_key": key}), selected
    )
    page.render()
    assert "This field is required." in page.content.decode()

    request = _admin_request(
        rf, staff,
        {"apply": "yes", "amount": "50.00", "customer_reason": "service_issue", "reason": "Goodwill", "request_key": key},
    )
    assert refund_to_card(modeladmin, request, selected) is None
    [text] = _messages(request)
    refund = CardRefund.objects.get()
    assert text == f"Refunded 50.00 AED to the card ({refund.stripe_refund_id}); the wallet was debited."
    assert refund.requested_by == staff and refund.reason == "Goodwill"
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("30.00")


def test_admin_refund_action_needs_permission_and_one_topup(user, make_user, staff, stripe_sandbox, rf):
    from django.contrib import admin

    from wallet.admin_actions import refund_to_card

    settled(user)
    settled(user)
    modeladmin = admin.ModelAdmin(TopUp, admin.site)
    request = _admin_request(rf, staff, {})
    assert refund_to_card(modeladmin, request, TopUp.objects.all()) is None
    assert _messages(request) == ["Select exactly one top-up to refund."]

    clerk = make_user(is_staff=True)
    request = _admin_request(rf, clerk, {"apply": "yes", "amount": "5", "reason": "x"})
    assert refund_to_card(modeladmin, request, TopUp.objects.all()[:1]) is None
    assert _messages(request) == ["You do not have permission to refund top-ups."]
    assert not CardRefund.objects.exists()


def test_ledger_is_consistent_after_refunds(user, staff, stripe_sandbox):
    topup = settled(user)
    services.refund_topup(topup=topup, amount="10.00", reason="a", staff=staff)
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id="pi_gone")
    topup.refresh_from_db()
    services.refund_topup(topup=topup, amount="10.00", reason="refused", staff=staff)
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger OK." in out.getvalue()
    assert WalletTransaction.objects.filter(type=TxType.CARD_REFUND).count() == 2
    assert WalletTransaction.objects.filter(type=TxType.CARD_REFUND_REVERSAL).count() == 1


def test_refund_through_the_admin_changelist(user, staff, stripe_sandbox, client):
    """The actions are wired on the TopUp admin: confirmation page, then the refund."""
    topup = settled(user, amount="60.00")
    client.force_login(staff)
    url = "/admin/wallet/topup/"
    page = client.post(url, {"action": "refund_to_card", "_selected_action": [str(topup.pk)]})
    assert page.status_code == 200
    assert b"Refund a top-up to the card" in page.content and b"data-remainder>60.00 AED<" in page.content
    done = client.post(
        url,
        {"action": "refund_to_card", "_selected_action": [str(topup.pk)], "apply": "yes",
         "amount": "60.00", "customer_reason": "duplicate", "reason": "Duplicate payment",
         "request_key": _request_key(page.content.decode())},
        follow=True,
    )
    assert done.status_code == 200
    assert b"Refunded 60.00 AED to the card" in done.content
    refund = CardRefund.objects.get()
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.requested_by == staff
    listing = client.get(url)
    assert b"Reconcile with Stripe" in listing.content and b"Refund to card" in listing.content


# --- review fixes: retry window, 4xx on retry, single-use submit, Stripe refund statuses, form -------------


def _pending_refund(user, staff, monkeypatch, amount="60.00"):
    """A refund whose first attempt met a Stripe outage: pending, wallet debited, no Stripe refund id."""
    topup = settled(user)

    def unreachable(**kwargs):
        raise PaymentProviderUnavailable("The payment provider could not be reached.")

    monkeypatch.setattr(payments, "create_refund", unreachable)
    refund = services.refund_topup(topup=topup, amount=amount, reason="outage", staff=staff)
    monkeypatch.undo()
    assert refund.status == CardRefund.Status.PENDING and not refund.stripe_refund_id
    return topup, refund


def test_pending_refund_past_the_idempotency_window_is_not_retried(user, staff, stripe_sandbox, monkeypatch):
    from django.utils import timezone

    topup, refund = _pending_refund(user, staff, monkeypatch)
    CardRefund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(hours=21))
    calls = []
    monkeypatch.setattr(payments, "create_refund", lambda **kw: calls.append(kw))
    for _ in range(2):  # reported again by every run, never re-created
        report = reconcile.reconcile_topups(older_than=timedelta(0), limit=10, dry_run=False)
        assert report.counts == {"needs_review": 1} and report.errors == 1
        assert "Needs review:" in report.lines[0]
    assert calls == []
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.PENDING and refund.failure_reason.startswith("Needs review: ")
    assert refund.reversal_transaction is None
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")  # stays debited until a person decides
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 0


def test_a_4xx_on_retry_needs_a_person_and_does_not_reverse(user, staff, stripe_sandbox, monkeypatch):
    topup, refund = _pending_refund(user, staff, monkeypatch)
    # The retry is refused (e.g. Stripe forgot the key and now answers 400): it proves nothing.
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id="pi_unknown_to_stripe")
    report = reconcile.reconcile_topups(older_than=timedelta(0), limit=10, dry_run=False)
    assert report.counts == {"needs_review": 1}
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.PENDING and refund.reversal_transaction is None
    assert refund.failure_reason == "Needs review: Stripe refused the retried refund; check it in Stripe."
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")
    # Later runs do not ask Stripe again for it.
    calls = []
    monkeypatch.setattr(payments, "create_refund", lambda **kw: calls.append(kw))
    assert reconcile.reconcile_topups(older_than=timedelta(0), limit=10).counts == {"needs_review": 1}
    assert calls == []


def test_refund_carries_its_id_in_stripe_metadata(user, staff, stripe_sandbox):
    refund = services.refund_topup(topup=settled(user), amount="5.00", reason="r", staff=staff)
    at_stripe = stripe_sandbox.request("GET", f"/v1/refunds/{refund.stripe_refund_id}")
    assert at_stripe["metadata"]["card_refund_id"] == str(refund.pk)


def test_same_request_key_refunds_once(user, staff, stripe_sandbox):
    topup = settled(user)
    services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff, request_key="k-1")
    with pytest.raises(services.RefundAlreadySubmitted, match="already submitted"):
        services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff, request_key="k-1")
    assert CardRefund.objects.count() == 1
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 1000
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("90.00")
    # Without a key (other callers) nothing changes.
    services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff)
    services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff)
    assert CardRefund.objects.count() == 3


def test_request_key_unique_constraint_backs_up_the_check(user, staff, stripe_sandbox, monkeypatch):
    """Two submits racing past the check: the unique constraint stops the second; nothing debited."""
    topup = settled(user)
    services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff, request_key="k-2")
    real_filter = CardRefund.objects.filter

    def blind_filter(*args, **kwargs):
        if "request_key" in kwargs and not blind_filter.seen:
            blind_filter.seen = True
            return CardRefund.objects.none()
        return real_filter(*args, **kwargs)

    blind_filter.seen = False
    monkeypatch.setattr(CardRefund.objects, "filter", blind_filter)
    with pytest.raises(services.RefundAlreadySubmitted, match="already submitted"):
        services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff, request_key="k-2")
    monkeypatch.undo()
    assert CardRefund.objects.count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("90.00")


def test_admin_double_submit_refunds_once(user, staff, stripe_sandbox, client):
    topup = settled(user, amount="60.00")
    client.force_login(staff)
    url = "/admin/wallet/topup/"
    page = client.post(url, {"action": "refund_to_card", "_selected_action": [str(topup.pk)]})
    data = {"action": "refund_to_card", "_selected_action": [str(topup.pk)], "apply": "yes",
            "amount": "20.00", "customer_reason": "duplicate", "reason": "Double click", "request_key": _request_key(page.content.decode())}
    first = client.post(url, data, follow=True)
    assert b"Refunded 20.00 AED to the card" in first.content
    second = client.post(url, data, follow=True)
    assert b"This refund was already submitted." in second.content
    assert CardRefund.objects.count() == 1
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 2000
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")
    # A fresh confirmation page has a fresh key: a deliberate second refund still works.
    page = client.post(url, {"action": "refund_to_card", "_selected_action": [str(topup.pk)]})
    assert _request_key(page.content.decode()) != data["request_key"]


def test_admin_refund_form_accepts_one_fil():
    from wallet.admin_actions import RefundForm

    form = RefundForm({"amount": "0.01", "customer_reason": "duplicate", "reason": "r", "request_key": str(uuid.uuid4())})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == Decimal("0.01")
    assert not RefundForm({"amount": "0.00", "reason": "r", "request_key": str(uuid.uuid4())}).is_valid()
    assert not RefundForm({"amount": "0.001", "reason": "r", "request_key": str(uuid.uuid4())}).is_valid()


@pytest.mark.parametrize("status", ["pending", "requires_action"])
def test_stripe_pending_refund_stays_pending_until_stripe_says_succeeded(status, user, staff, stripe_sandbox, monkeypatch):
    topup = settled(user)
    real_create = payments.create_refund

    def answered(**kwargs):  # real Stripe may answer a refund that is not final yet
        made = real_create(**kwargs)
        return payments.Refund(id=made.id, status=status, amount=made.amount)

    monkeypatch.setattr(payments, "create_refund", answered)
    refund = services.refund_topup(topup=topup, amount="25.00", reason="r", staff=staff)
    assert refund.status == CardRefund.Status.PENDING and refund.stripe_refund_id.startswith("re_")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("75.00")

    # Reconcile reads it by its id (localstripe: succeeded) and never creates a second one.
    calls = []
    monkeypatch.setattr(payments, "create_refund", lambda **kw: calls.append(kw))
    report = reconcile.reconcile_topups(older_than=timedelta(0), limit=10, dry_run=False)
    assert report.counts == {"refunded": 1} and calls == []
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.SUCCEEDED
    assert refunded_at_stripe(stripe_sandbox, topup.stripe_payment_intent_id) == 2500


def test_pending_refund_read_back_even_past_the_window(user, staff, stripe_sandbox, monkeypatch):
    """With a Stripe refund id, reading it back is safe at any age (no re-create)."""
    from django.utils import timezone

    topup = settled(user)
    made = payments.create_refund(
        payment_intent_id=topup.stripe_payment_intent_id, amount_minor=1000, idempotency_key="x", metadata={}
    )
    monkeypatch.setattr(
        payments, "create_refund", lambda **kw: payments.Refund(id=made.id, status="pending", amount=1000)
    )
    refund = services.refund_topup(topup=topup, amount="10.00", reason="r", staff=staff)
    CardRefund.objects.filter(pk=refund.pk).update(created_at=timezone.now() - timedelta(days=3))
    monkeypatch.setattr(
        payments, "retrieve_refund", lambda rid: payments.Refund(id=rid, status="pending", amount=1000)
    )
    assert reconcile.reconcile_topups(older_than=timedelta(0), limit=10).counts == {"waiting": 1}
    monkeypatch.undo()
    assert reconcile.reconcile_topups(older_than=timedelta(0), limit=10).counts == {"refunded": 1}
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.stripe_refund_id == made.id


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_refund_that_fails_at_stripe_is_reversed(status, user, staff, stripe_sandbox, monkeypatch):
    topup = settled(user)
    monkeypatch.setattr(
        payments, "create_refund", lambda **kw: payments.Refund(id="re_later", status="pending", amount=4000)
    )
    refund = services.refund_topup(topup=topup, amount="40.00", reason="r", staff=staff)
    assert refund.status == CardRefund.Status.PENDING
    monkeypatch.setattr(
        payments, "retrieve_refund", lambda rid: payments.Refund(id=rid, status=status, amount=4000)
    )
    assert reconcile.reconcile_topups(older_than=timedelta(0), limit=10).counts == {"refund_reversed": 1}
    refund.refresh_from_db()
    assert refund.status == CardRefund.Status.FAILED and refund.reversal_transaction.amount == Decimal("40.00")
    assert refund.failure_reason == f"Stripe reported the refund {status}."
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00")
    call_command("check_ledger", stdout=StringIO())
