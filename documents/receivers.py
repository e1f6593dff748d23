"""What documents does when the wallet moves money (connected in DocumentsConfig.ready()), and the
hooks it gives the wallet's emails. Receivers only enqueue after commit: issuing and rendering run
in tasks, never in the payment's transaction."""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from wallet.emails import render_text
from wallet.models import CardRefund, Dispute, TopUp

from . import parties
from .issuing import issue_topup_invoice
from .models import Document
from .pdf import render_pdf
from .tasks import issue_dispute_document, issue_refund_document, issue_topup_document

logger = logging.getLogger(__name__)



def _enqueue(task, object_id) -> None:
    try:
        task.enqueue(str(object_id))
    except Exception:  # noqa: BLE001 - the payment is done; the monthly chore issues what is missing
        logger.exception("could not enqueue %s for %s", task.name, object_id)


def on_topup_saved(sender, instance: TopUp, update_fields=None, **kwargs) -> None:
    if instance.status != TopUp.Status.SUCCEEDED or instance.credit_transaction_id is None:
        return
    if update_fields is not None and "status" not in update_fields:
        return  # a later save of a settled top-up, not its settlement
    transaction.on_commit(partial(_enqueue, issue_topup_document, instance.pk))


def on_card_refund_saved(sender, instance: CardRefund, update_fields=None, **kwargs) -> None:
    done = instance.status == CardRefund.Status.SUCCEEDED and instance.debit_transaction_id is not None
    reversed_ = instance.status == CardRefund.Status.FAILED and instance.reversal_transaction_id is not None
    if not (done or reversed_):
        return
    transaction.on_commit(partial(_enqueue, issue_refund_document, instance.pk))


def on_dispute_saved(sender, instance: Dispute, **kwargs) -> None:
    # Applied (money taken back) or won (given back): the task issues what is missing, once.
    if instance.withdrawn_at is None or not instance.amount:
        return
    transaction.on_commit(partial(_enqueue, issue_dispute_document, instance.pk))


def receipt_attachments(topup_id: str) -> list[tuple[str, bytes, str]]:
    """The top-up's invoice (or receipt) for its receipt email, issued now if its task has not run."""
    try:
        document = issue_topup_invoice(topup_id=topup_id)
        if document is None:
            return []
        return [(document.filename, render_pdf(document), "application/pdf")]
    except Exception:  # noqa: BLE001 - the receipt still goes out; the invoice is on the Documents page
        logger.exception("receipt of top-up %s sent without its invoice", topup_id)
        return []


def send_statement_email(document_id: str) -> bool:
    """Email a monthly statement (and the month's usage invoice, if any) to the invoice address."""
    statement = Document.objects.select_related("user").filter(
        pk=document_id, kind=Document.Kind.STATEMENT
    ).first()
    if statement is None:
        return False
    documents = [statement, *Document.objects.filter(
        user_id=statement.user_id, kind=Document.Kind.USAGE_INVOICE, period_start=statement.period_start
    )]
    body = render_text("documents/email/statement.txt", {
        "statement": statement, "figures": statement.data, "usage_invoices": documents[1:],
        "documents_url": settings.SITE_URL + "/documents/",
    })
    EmailMessage(
        subject=f"NetCop Wallet statement for {statement.period_start:%B %Y}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[parties.recipient(statement.user)],
        attachments=[(d.filename, render_pdf(d), "application/pdf") for d in documents],
    ).send()
    return True
