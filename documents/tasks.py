"""Queued work of documents. Every task is safe to run twice: a document exists once (its unique
constraints), and a second issue finds the first."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from wallet.emails import enqueue_email

from .issuing import (
    issue_dispute_documents,
    issue_missing,
    issue_refund_credit_note,
    issue_refund_reversal_invoice,
    issue_topup_invoice,
)
from .models import Document
from .statements import accounts_for, issue_statement, issue_usage_invoice, previous_month

logger = logging.getLogger(__name__)

STATEMENT_EMAIL = "document_statement"


@task()
def issue_topup_document(topup_id: str) -> str:
    document = issue_topup_invoice(topup_id=topup_id)
    return document.display_number if document else "not credited"


@task()
def issue_refund_document(refund_id: str) -> str:
    """The credit note of a completed refund; for one Stripe failed afterwards, also the invoice
    that corrects that credit note."""
    issued = [
        issue_refund_credit_note(refund_id=refund_id),
        issue_refund_reversal_invoice(refund_id=refund_id),
    ]
    return ", ".join(d.display_number for d in issued if d) or "nothing to issue"


@task()
def issue_dispute_document(dispute_id: str) -> str:
    """The credit note of a dispute that took money back; once won, the invoice correcting it."""
    issued = issue_dispute_documents(dispute_id=dispute_id)
    return ", ".join(d.display_number for d in issued) or "nothing to issue"


@task()
def issue_monthly_documents() -> str:
    """Periodic chore: last month's statement (and usage invoice) for each account that has none yet,
    each emailed. Runs every SCHEDULE_MONTHLY_DOCUMENTS; on the 1st it finds the whole month to do,
    later runs only what an earlier one missed (once per account and month, however many run).
    Each run also issues any invoice or credit note whose own task was lost."""
    # First the safety net: documents whose issuing task was lost (a queue outage at commit time).
    caught_up = issue_missing()
    first_day = previous_month(timezone.localdate())
    done = Document.objects.filter(kind=Document.Kind.STATEMENT, period_start=first_day).values("user_id")
    issued = 0
    failed = 0
    for user in accounts_for(first_day).exclude(pk__in=done).iterator():
        try:
            if settings.VAT_TAX_POINT == "usage":
                issue_usage_invoice(user=user, first_day=first_day)
            statement = issue_statement(user=user, first_day=first_day)
        except Exception:  # noqa: BLE001 - one account's problem (e.g. a mismatch) must not stop the rest
            logger.exception("monthly documents of user %s for %s not issued", user.pk, f"{first_day:%Y-%m}")
            failed += 1
            continue
        # After commit (issue() committed already): the email task renders and sends it once.
        enqueue_email(STATEMENT_EMAIL, statement.pk)
        issued += 1
    logger.info("monthly documents for %s: %s statements, %s failed", f"{first_day:%Y-%m}", issued, failed)
    summary = f"{issued} statements for {first_day:%Y-%m}" + (f", {failed} failed (logged)" if failed else "")
    return summary + (f"; {caught_up} missing invoices/credit notes issued" if caught_up else "")
