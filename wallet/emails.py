"""Customer emails: top-up receipts and card-refund notices.

A money transaction only *enqueues* its email, after commit (`enqueue_email`); a task worker renders
it from the database and sends it (wallet.tasks.send_email), retrying while the mail server is down.
Neither a queue outage nor a mail outage can affect the payment that caused the email.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import CardRefund, TopUp
from .money import format_money

logger = logging.getLogger(__name__)

TOPUP_RECEIPT = "topup_receipt"
CARD_REFUND = "card_refund"


def enqueue_email(kind: str, object_id) -> None:
    """Hand an email to the task queue (call it in transaction.on_commit); a queue outage is logged."""
    from .tasks import send_email  # tasks imports this module

    try:
        send_email.enqueue(kind, str(object_id))
    except Exception:  # noqa: BLE001 - the payment is done; a lost email must not undo it
        logger.exception("could not enqueue %s email for %s", kind, object_id)


def send_topup_receipt(*, topup: TopUp) -> None:
    """Send the receipt for a credited top-up: amount, new balance, date and transaction id."""
    user, entry = topup.user, topup.credit_transaction
    context = {"topup": topup, "entry": entry, "name": user.username, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet receipt: {format_money(topup.amount, topup.currency)} added",
        message=render_to_string("wallet/email/topup_receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def send_refund_email(*, refund: CardRefund) -> None:
    """Tell the customer a refund to their card went through: amount, reason, balance, ids."""
    topup = refund.topup
    user = topup.user
    context = {"refund": refund, "topup": topup, "entry": refund.debit_transaction,
               "name": user.username, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet: {format_money(refund.amount, topup.currency)} refunded to your card",
        message=render_to_string("wallet/email/refund.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def send(kind: str, object_id: str) -> bool:
    """Render and send one email from the database; False when there is nothing (left) to send."""
    if kind == TOPUP_RECEIPT:
        topup = TopUp.objects.select_related("user", "credit_transaction").filter(pk=object_id).first()
        if topup is None or topup.credit_transaction is None:
            return False
        send_topup_receipt(topup=topup)
        return True
    if kind == CARD_REFUND:
        refund = (
            CardRefund.objects.select_related("topup__user", "debit_transaction")
            .filter(pk=object_id, status=CardRefund.Status.SUCCEEDED, debit_transaction__isnull=False)
            .first()
        )
        if refund is None:
            return False
        send_refund_email(refund=refund)
        return True
    raise ValueError(f"unknown email kind {kind!r}")
