"""The monthly chore (once per account and month, however many schedulers), the statement email,
and the top-up receipt email with its invoice attached."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from documents.models import BillingDetails, Document
from documents.statements import month_bounds, previous_month
from documents.tasks import issue_monthly_documents
from wallet import scheduler
from wallet.emails import TOPUP_RECEIPT
from wallet.models import ChoreSlot, TxType
from wallet.services import ledger
from wallet.tasks import send_email

pytestmark = pytest.mark.django_db
D = Decimal


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def backdate_all(when):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallettransaction SET created_at = %s", [when])


def test_receipt_email_carries_the_tax_invoice(user, credited_topup, seller, mailoutbox):
    topup = credited_topup(user, "100.00")
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "sent"
    (message,) = mailoutbox
    (name, content, mimetype) = message.attachments[0]
    invoice = Document.objects.get(topup=topup)
    assert name == invoice.filename and mimetype == "application/pdf"
    text = pdf_text(content)
    assert "Tax Invoice" in text and invoice.display_number in text and "4.76" in text


def test_monthly_chore_issues_and_emails_each_statement_once(user, make_user, seller, mailoutbox,
                                                             django_capture_on_commit_callbacks):
    seller.SCHEDULE_MONTHLY_DOCUMENTS = timedelta(hours=1)
    seller.SCHEDULE_RECONCILE_TOPUPS = seller.SCHEDULE_SWEEP_AGENT_RUNS = None
    seller.SCHEDULE_PRUNE_TASK_RESULTS = seller.SCHEDULE_RETRY_WEBHOOKS = None  # only the monthly chore here
    other = make_user(email="bob@example.com")
    BillingDetails.objects.create(user=other, legal_name="Bob Security", invoice_email="ap@bob.example")
    ledger.credit(user=user, amount=D("50.00"), type=TxType.ADJUSTMENT, description="start")
    ledger.credit(user=other, amount=D("20.00"), type=TxType.ADJUSTMENT, description="start")
    start, _, _ = month_bounds(previous_month(timezone.localdate()))
    backdate_all(start + timedelta(days=3))

    # Two schedulers tick in the same slot: one wins the slot, the chore runs once.
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        claimed = [scheduler.tick(now=now, who="host-a"), scheduler.tick(now=now, who="host-b")]
    assert claimed == [["issue_monthly_documents"], []]
    assert ChoreSlot.objects.filter(chore="issue_monthly_documents").count() == 1
    statements = Document.objects.filter(kind=Document.Kind.STATEMENT)
    assert statements.count() == 2
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "ap@bob.example"]
    assert all(m.attachments[0][0].startswith("netcop-ST-") for m in mailoutbox)

    # A later slot (or a twin delivery of the task) finds nothing left to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert issue_monthly_documents.call().startswith("0 statements")
    assert statements.count() == 2 and len(mailoutbox) == 2


def test_usage_tax_point_adds_the_usage_invoice_to_the_statement_email(user, seller, mailoutbox,
                                                                       django_capture_on_commit_callbacks):
    seller.VAT_TAX_POINT = "usage"
    ledger.credit(user=user, amount=D("100.00"), type=TxType.ADJUSTMENT, description="start")
    ledger.debit(user=user, amount=D("10.50"), type=TxType.AGENT_USAGE, description="Agent run: Port scanner")
    start, _, _ = month_bounds(previous_month(timezone.localdate()))
    backdate_all(start + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        issue_monthly_documents.call()
    usage = Document.objects.get(kind=Document.Kind.USAGE_INVOICE)
    assert (usage.net_total, usage.tax_total, usage.total) == (D("10.00"), D("0.50"), D("10.50"))
    (message,) = mailoutbox
    assert [a[0] for a in message.attachments] == [
        Document.objects.get(kind=Document.Kind.STATEMENT).filename, usage.filename
    ]


def test_receipt_goes_out_even_if_the_pdf_cannot_be_made(user, credited_topup, seller, mailoutbox, monkeypatch):
    from documents import receivers

    monkeypatch.setattr(receivers, "render_pdf", lambda document: 1 / 0)
    topup = credited_topup(user, "20.00")
    assert send_email.call(TOPUP_RECEIPT, str(topup.pk)) == "sent"
    (message,) = mailoutbox
    assert message.attachments == []
    assert Document.objects.filter(topup=topup).exists()  # issued all the same; on the Documents page


def test_chore_issues_invoices_whose_task_was_lost(user, credited_topup, seller):
    # No on_commit here: the issuing task never ran, as after a queue outage at commit time.
    topups = [credited_topup(user, "10.00"), credited_topup(user, "20.00")]
    assert not Document.objects.exists()
    assert issue_monthly_documents.call().endswith("2 missing invoices/credit notes issued")
    assert sorted(Document.objects.values_list("topup__amount", "number")) == [(D("10.00"), 1), (D("20.00"), 2)]
    assert {d.topup_id for d in Document.objects.all()} == {t.pk for t in topups}
    assert "missing" not in issue_monthly_documents.call()
