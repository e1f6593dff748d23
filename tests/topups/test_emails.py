"""Customer emails sent by a task after commit: receipts, refund notices, mail outages, duplicates."""

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from tests.workers import wait_for
from wallet import services
from wallet.emails import CARD_REFUND, TOPUP_RECEIPT
from wallet.models import SentEmail, TopUp
from wallet.tasks import send_email


def settle(user, amount="100.00") -> TopUp:
    result = services.start_topup(
        user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.credited_now
    return result.topup


@pytest.mark.django_db
def test_card_refund_sends_a_notice_after_commit(user, make_user, stripe_sandbox, mailoutbox,
                                                 django_capture_on_commit_callbacks):
    staff = make_user(is_staff=True)
    topup = settle(user)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_topup(topup=topup, amount="30.00", reason="asked", staff=staff)
    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    assert mailoutbox[0].to == [user.email] and "refunded to your card" in mailoutbox[0].subject
    assert "30.00 AED" in body and refund.stripe_refund_id in body and "70.00 AED" in body


@pytest.mark.django_db
def test_email_task_delivered_twice_sends_once(user, stripe_sandbox, mailoutbox):
    topup = settle(user)
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "sent"
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "already sent"
    assert len(mailoutbox) == 1 and SentEmail.objects.filter(key=f"{TOPUP_RECEIPT}:{topup.pk}").exists()
    # An unsettled top-up or a refund that did not succeed has nothing to send.
    assert send_email.call(CARD_REFUND, str(uuid.uuid4())) == "nothing to send"


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_mail_server_down_retries_later_and_never_touches_the_payment(task_workers, user, stripe_sandbox,
                                                                      tmp_path, settings):
    """The SMTP server is down when the top-up settles: the payment stands, the receipt task fails
    and schedules its retry; once mail works (a second worker here), the receipt goes out once."""
    settings.EMAIL_RETRY_AFTER = timedelta(seconds=1)
    down = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(closed_port()), "EMAIL_RETRY_AFTER": "1s"}
    first = task_workers("db", env=down)
    topup = settle(user, amount="40.00")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")  # credited before any email was tried
    from django_tasks_db.models import DBTaskResult

    wait_for(lambda: DBTaskResult.objects.filter(return_value="retry scheduled").exists(), 60,
             "the failed send to schedule its retry")
    first.stop()
    up = {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
          "EMAIL_FILE_PATH": str(tmp_path)}
    task_workers("db", env=up)
    key = f"{TOPUP_RECEIPT}:{topup.pk}"
    wait_for(lambda: SentEmail.objects.filter(key=key, status=SentEmail.Status.SENT).exists(), 60,
             "the retried receipt")
    files = list(Path(tmp_path).iterdir())
    assert len(files) == 1 and "40.00 AED" in files[0].read_text()
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")
    assert not mail.outbox
