"""Issue 12: the admin's money pages. Adjust balance (#7) and refunds to the card (#6)."""

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from wallet import services
from wallet.exceptions import RefundNotAllowed
from wallet.models import CardRefund, TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

MINUS = "\u2212"


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


# --- #6 Refunds to the card ----------------------------------------------------------------------

TOPUPS = "/admin/wallet/topup/"


def settled(user, amount="100.00"):
    result = services.start_topup(
        user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.credited_now
    return result.topup


def _action(topup, **data):
    return {"action": "refund_to_card", "_selected_action": [str(topup.pk)], **data}


def test_card_refund_has_its_own_type_and_the_customer_reads_the_customer_reason(
    user, superuser, stripe_sandbox, django_capture_on_commit_callbacks, mailoutbox
):
    topup = settled(user, "1000.00")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_topup(
            topup=topup, amount="250.00", reason="Ticket #881, chargeback threat", staff=superuser,
            customer_reason=CardRefund.CustomerReason.DUPLICATE,
        )
    assert refund.status == CardRefund.Status.SUCCEEDED
    entry = refund.debit_transaction
    assert entry.type == TxType.CARD_REFUND and entry.kind_label == "Refund to card"
    assert entry.description == "Refund to card: Duplicate payment"
    assert refund.reason == "Ticket #881, chargeback threat"
    [mail] = mailoutbox
    assert mail.to == [user.email]
    assert mail.subject == "NetCop Wallet: 250.00 AED refunded to your card"
    assert "250.00 AED" in mail.body and "Duplicate payment" in mail.body and "750.00 AED" in mail.body
    assert "Ticket #881" not in mail.body and refund.stripe_refund_id in mail.body


def test_refused_card_refund_is_reversed_with_its_own_type_and_no_email(
    user, superuser, stripe_sandbox, django_capture_on_commit_callbacks, mailoutbox
):
    topup = settled(user)
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id="pi_gone")  # Stripe refuses
    topup.refresh_from_db()
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_topup(
            topup=topup, amount="10.00", reason="internal", staff=superuser, customer_reason="duplicate"
        )
    assert refund.status == CardRefund.Status.FAILED
    reversal = refund.reversal_transaction
    assert reversal.type == TxType.CARD_REFUND_REVERSAL and reversal.amount == Decimal("10.00")
    assert reversal.kind_label == "Refund reversed"
    assert "Stripe" not in reversal.description
    assert mailoutbox == []


def test_refund_refuses_an_unknown_customer_reason(user, superuser, stripe_sandbox):
    topup = settled(user)
    with pytest.raises(RefundNotAllowed, match="Choose a reason for the customer"):
        services.refund_topup(topup=topup, amount="1.00", reason="x", staff=superuser, customer_reason="lol")
    assert not CardRefund.objects.exists()


def test_old_refund_rows_read_as_what_they_were_and_the_history_filter_separates_them(auth_client, user):
    # Rows written before the split keep their stored type "refund".
    credit = services.credit(user=user, amount="100.00", type=TxType.ADJUSTMENT, description="funds")
    old_card = services.debit(user=user, amount="10.00", type=TxType.REFUND, description="Refund to card: dup")
    old_rev = services.credit(user=user, amount="10.00", type=TxType.REFUND, description="Refund reversed: no")
    old_agent = services.credit(user=user, amount="2.00", type=TxType.REFUND, description="Refund: X run failed")
    new_card = services.debit(user=user, amount="5.00", type=TxType.CARD_REFUND, description="Refund to card")
    new_agent = services.credit(user=user, amount="1.00", type=TxType.AGENT_REFUND, description="Refund: Y")
    assert [r.kind for r in (old_card, old_rev, old_agent)] == [
        TxType.CARD_REFUND, TxType.CARD_REFUND_REVERSAL, TxType.AGENT_REFUND
    ]
    assert old_card.type == TxType.REFUND  # stored as written

    def listed(kind):
        body = auth_client.get(reverse("wallet:history"), {"type": kind}).content.decode()
        return set(re.findall(r'data-tx-id="([0-9a-f-]{36})"', body))

    assert listed("card_refund") == {str(old_card.pk), str(new_card.pk)}
    assert listed("card_refund_reversal") == {str(old_rev.pk)}
    assert listed("agent_refund") == {str(old_agent.pk), str(new_agent.pk)}
    assert listed("adjustment") == {str(credit.pk)}
    page = auth_client.get(reverse("wallet:history")).content.decode()
    assert 'class="badge badge-card_refund">Refund to card<' in page
    assert 'class="badge badge-agent_refund">Agent refund<' in page
    assert 'value="refund"' not in page  # the legacy type is not offered as a filter of its own


def test_admin_refund_form_starts_empty_then_confirms_with_amount_and_consequences(
    admin_client, user, stripe_sandbox
):
    topup = settled(user, "1500.00")
    form = admin_client.post(TOPUPS, _action(topup)).content.decode()
    assert re.search(r'<input type="text" name="amount"(?![^>]*value=)', form)
    assert "data-remainder>1,500.00 AED<" in form and 'name="customer_reason"' in form
    key = re.search(r'name="request_key" value="([0-9a-f-]{36})"', form).group(1)
    typed = {"amount": "1200", "customer_reason": "service_issue", "reason": "Outage ticket 7", "request_key": key}

    review = admin_client.post(TOPUPS, _action(topup, review="1", **typed)).content.decode()
    assert "data-confirm-amount>1,200.00 AED<" in review
    assert "data-confirm-balance-after>300.00 AED<" in review
    assert "data-confirm-customer-reason>Service problem<" in review
    assert 'id="refund-consequences"' in review and "cannot be undone" in review
    assert 'value="Yes, refund 1,200.00 AED to the card"' in review
    assert not CardRefund.objects.exists(), "nothing happens before confirming"

    back = admin_client.post(TOPUPS, _action(topup, edit="1", **typed)).content.decode()
    assert 'name="amount" value="1200"' in back and "Outage ticket 7</textarea>" in back
    assert re.search(r'<option value="service_issue" selected>', back)
    assert 'id="refund-form"' in back and "errornote" not in back

    done = admin_client.post(TOPUPS, _action(topup, apply="Yes", **typed), follow=True).content.decode()
    assert "Refunded 1,200.00 AED to the card" in done
    refund = CardRefund.objects.get()
    assert refund.customer_reason == "service_issue" and refund.reason == "Outage ticket 7"
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("300.00")


def test_admin_refund_review_refuses_over_the_caps_before_confirming(admin_client, user, stripe_sandbox):
    topup = settled(user, "100.00")
    services.debit(user=user, amount="70.00", type=TxType.AGENT_USAGE, description="spent")
    typed = {"amount": "50", "customer_reason": "duplicate", "reason": "x", "request_key": str(uuid.uuid4())}
    review = admin_client.post(TOPUPS, _action(topup, review="1", **typed)).content.decode()
    assert "The wallet holds only 30.00 AED" in review and "data-confirm-amount" not in review
    typed["amount"] = "100.01"
    review = admin_client.post(TOPUPS, _action(topup, review="1", **typed)).content.decode()
    assert "At most 100.00 AED of this top-up can still be refunded." in review
    assert not CardRefund.objects.exists()


def test_topup_admin_page_lists_its_refunds(admin_client, user, superuser, stripe_sandbox):
    topup = settled(user, "2000.00")
    services.refund_topup(topup=topup, amount="1250.00", reason="note A", staff=superuser, customer_reason="duplicate")
    services.refund_topup(topup=topup, amount="5.00", reason="note B", staff=superuser)
    page = admin_client.get(reverse("admin:wallet_topup_change", args=[topup.pk])).content.decode()
    table = re.search(r'<table id="topup-refunds">.*?</table>', page, re.S).group(0)
    assert "1,250.00 AED" in table and "5.00 AED" in table and "Duplicate payment" in table
    assert "note A" in table and table.count("Succeeded") == 2
