"""Issue 20 item 7: two deliveries of one email task cannot both send it. The send is claimed in the
database (SentEmail's unique key) before the mail server is called."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.concurrency import run_concurrently
from wallet import emails, services
from wallet.emails import TOPUP_RECEIPT
from wallet.models import SentEmail, TopUp
from wallet.tasks import send_email


def settle(user, amount="100.00") -> TopUp:
    result = services.start_topup(
        user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.credited_now
    # With transaction=True the receipt already went out on commit: start from an unsent email.
    SentEmail.objects.filter(key=f"{TOPUP_RECEIPT}:{result.topup.pk}").delete()
    return result.topup


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_send_the_email_once(user, stripe_sandbox, mailoutbox, monkeypatch):
    """Both deliveries start together; the one that claims first is held inside the send (as a slow
    SMTP server would) until the other has finished: the other must have sent nothing."""
    topup = settle(user)
    mailoutbox.clear()
    inside_send, other_done = threading.Event(), threading.Event()
    real_send = emails.send

    def slow_send(kind, object_id):
        inside_send.set()
        assert other_done.wait(30), "the second delivery never finished"
        return real_send(kind, object_id)

    monkeypatch.setattr(emails, "send", slow_send)

    def deliver(i):
        if i == 1:
            assert inside_send.wait(30)  # the second delivery arrives while the first is sending
        try:
            return send_email.call(TOPUP_RECEIPT, str(topup.pk))
        finally:
            if i == 1:
                other_done.set()

    results = run_concurrently(deliver, 2)
    assert sorted(map(str, results)) == ["being sent", "sent"], results
    assert len(mailoutbox) == 1
    row = SentEmail.objects.get(key=f"{TOPUP_RECEIPT}:{topup.pk}")
    assert row.status == SentEmail.Status.SENT
    # A third, later delivery finds it sent.
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "already sent"
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_many_deliveries_at_once_send_once(user, stripe_sandbox, mailoutbox):
    topup = settle(user)
    mailoutbox.clear()
    results = run_concurrently(lambda i: send_email.call(TOPUP_RECEIPT, str(topup.pk)), 6)
    assert all(isinstance(r, str) for r in results), results
    assert results.count("sent") == 1, results
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_failed_send_releases_its_claim_for_the_retry(user, stripe_sandbox, mailoutbox, monkeypatch, settings):
    topup = settle(user)
    mailoutbox.clear()
    key = f"{TOPUP_RECEIPT}:{topup.pk}"
    real_send = emails.send

    def down(kind, object_id):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(emails, "send", down)
    # The test settings' immediate backend cannot defer the retry: the claim is released all the same.
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) in {"not sent", "retry scheduled"}
    assert not SentEmail.objects.filter(key=key).exists()
    monkeypatch.setattr(emails, "send", real_send)
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk), 2) == "sent"
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_not(user, stripe_sandbox, mailoutbox):
    """A delivery killed mid-send leaves its claim; after CLAIM_STALE_AFTER another delivery sends."""
    topup = settle(user)
    mailoutbox.clear()
    key = f"{TOPUP_RECEIPT}:{topup.pk}"
    SentEmail.objects.create(key=key, status=SentEmail.Status.SENDING, claimed_at=timezone.now())
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "being sent"
    assert not mailoutbox
    SentEmail.objects.filter(key=key).update(
        claimed_at=timezone.now() - emails.CLAIM_STALE_AFTER - timedelta(seconds=1)
    )
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "sent"
    assert len(mailoutbox) == 1
    assert SentEmail.objects.get(key=key).status == SentEmail.Status.SENT


@pytest.mark.django_db
def test_a_claim_in_flight_must_say_when_it_was_taken():
    with pytest.raises(IntegrityError), transaction.atomic():
        SentEmail.objects.create(key="x:1", status=SentEmail.Status.SENDING, claimed_at=None)
    SentEmail.objects.create(key="x:2", status=SentEmail.Status.SENDING, claimed_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        SentEmail.objects.filter(key="x:2").update(claimed_at=None)
