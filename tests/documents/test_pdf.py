"""The PDFs read back with pypdf carry every Article 59 field, the numbers and amounts issued; a
statement's closing balance equals the ledger's."""

import io
import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from documents import issuing, statements
from documents.models import BillingDetails, Document
from documents.pdf import render_pdf
from wallet.models import CardRefund, TxType, WalletTransaction
from wallet.services import ledger

pytestmark = pytest.mark.django_db
D = Decimal
SHOTS = os.environ.get("DOCUMENT_SHOTS")  # a directory: also write the PDFs there (for looking at)


def text_of(document: Document) -> str:
    pdf = render_pdf(document)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        with open(os.path.join(SHOTS, f"{document.kind}.pdf"), "wb") as out:
            out.write(pdf)
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def customer(user):
    BillingDetails.objects.create(user=user, legal_name="Falcon Cyber LLC",
                                  address="Office 1404, Al Maqam Tower\nAbu Dhabi Global Market Square",
                                  country="United Arab Emirates", trn="100222333400003")
    return user


def test_tax_invoice_has_every_article_59_field(customer, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(customer, "1234.56").pk)
    text = text_of(doc)
    issued = timezone.localtime(doc.issued_at)
    for expected in [
        "Tax Invoice",                                      # (a) the words "Tax Invoice"
        "NetCop Security FZ-LLC", "Dubai Internet City", "100111222300003",  # (b) seller, address, TRN
        "Falcon Cyber LLC", "Al Maqam Tower", "100222333400003",  # (c) recipient, address, TRN
        doc.display_number,                                 # (d) sequential number
        f"{issued:%B} {issued.year}",                       # (e) date of issue
        "Date of supply",                                   # (f) date of supply
        "Wallet top-up",                                    # (g) description
        "1175.77", "5%", "58.79", "1234.56",                # (h) amount before tax, rate, tax, total
        "AED",                                              # (j, k) amounts in AED
    ]:
        assert expected in text, expected
    assert "Simplified" not in text  # a registered customer gets the full form
    assert re.search(r"[\u0600-\u06ff]", text)  # the Arabic headings are there


def test_simplified_invoice_for_an_unregistered_customer(user, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user, "100.00").pk)
    text = text_of(doc)
    assert "Tax Invoice" in text and "Simplified tax invoice" in text
    assert user.email in text and "95.24" in text and "4.76" in text


def test_credit_note_pdf_names_its_invoice(customer, credited_topup, seller):
    topup = credited_topup(customer, "100.00")
    invoice = issuing.issue_topup_invoice(topup_id=topup.pk)
    debit = ledger.debit(user=customer, amount=D("30.00"), type=TxType.CARD_REFUND, description="Refund")
    refund = CardRefund.objects.create(topup=topup, amount=D("30.00"), reason="r", debit_transaction=debit,
                                       status=CardRefund.Status.SUCCEEDED, stripe_refund_id="re_2")
    text = text_of(issuing.issue_refund_credit_note(refund_id=refund.pk))
    for expected in ["Tax Credit Note", invoice.display_number, "28.57", "1.43", "30.00", "100111222300003"]:
        assert expected in text, expected


def test_statement_closing_balance_equals_the_ledger(customer, credited_topup, seller):
    first_day = statements.previous_month(timezone.localdate())
    start, end, _ = statements.month_bounds(first_day)
    before = start - timedelta(days=3)
    during = start + timedelta(days=2)
    after = end + timedelta(hours=1)

    def at(when, entry):
        # created_at is auto_now_add: the test dates the row past the append-only model.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE wallet_wallettransaction SET created_at = %s WHERE id = %s",
                           [when, entry.pk.hex if connection.vendor == "sqlite" else str(entry.pk)])

    at(before, credited_topup(customer, "200.00").credit_transaction)
    at(during, credited_topup(customer, "100.00").credit_transaction)
    at(during, ledger.debit(user=customer, amount=D("12.50"), type=TxType.AGENT_USAGE,
                            description="Agent run: Port scanner"))
    at(during, ledger.debit(user=customer, amount=D("7.25"), type=TxType.AGENT_USAGE,
                            description="Agent run: Phishing triage"))
    at(during, ledger.credit(user=customer, amount=D("7.25"), type=TxType.AGENT_REFUND,
                             description="Refund: Phishing triage run failed"))
    last = ledger.debit(user=customer, amount=D("0.75"), type=TxType.ADJUSTMENT, description="fix")
    at(during + timedelta(hours=1), last)
    at(after, ledger.debit(user=customer, amount=D("5.00"), type=TxType.AGENT_USAGE,
                           description="Agent run: Port scanner"))

    doc = statements.issue_statement(user=customer, first_day=first_day)
    assert doc.data["opening"] == "200.00"
    assert doc.data["closing"] == str(WalletTransaction.objects.get(pk=last.pk).balance_after) == "286.75"
    assert doc.data["usage_by_agent"] == {"Phishing triage": "7.25", "Port scanner": "12.50"}
    text = text_of(doc)
    for expected in ["Statement of Account", doc.display_number, "200.00", "100.00", "Port scanner", "12.50",
                     "286.75", first_day.strftime("%B %Y").split()[0]]:
        assert expected in text, expected
    assert statements.issue_statement(user=customer, first_day=first_day) == doc


def test_usage_invoice_under_the_usage_tax_point(customer, seller):
    seller.VAT_TAX_POINT = "usage"
    first_day = statements.previous_month(timezone.localdate())
    start, _, _ = statements.month_bounds(first_day)
    ledger.credit(user=customer, amount=D("100.00"), type=TxType.ADJUSTMENT, description="opening")
    ledger.debit(user=customer, amount=D("21.00"), type=TxType.AGENT_USAGE, description="Agent run: Port scanner")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallettransaction SET created_at = %s", [start + timedelta(days=1)])
    doc = statements.issue_usage_invoice(user=customer, first_day=first_day)
    # 21.00 inclusive at 5%: exactly 1.00 VAT.
    assert (doc.net_total, doc.tax_total, doc.total) == (D("20.00"), D("1.00"), D("21.00"))
    text = text_of(doc)
    assert "Tax Invoice" in text and "Agent runs: Port scanner" in text and "20.00" in text


def test_customer_text_is_printed_as_text_never_fetched(user, credited_topup, seller, monkeypatch):
    from documents import pdf

    fetched = []
    monkeypatch.setattr(pdf, "_no_fetch", lambda url, *a, **k: fetched.append(url) or pdf._no_fetch(url))
    BillingDetails.objects.create(user=user, legal_name='Evil & Co <img src="file:///etc/passwd">',
                                  address='<link rel="stylesheet" href="http://127.0.0.1:9/x.css">')
    text = text_of(issuing.issue_topup_invoice(topup_id=credited_topup(user).pk))
    squeezed = "".join(text.split())  # the long name wraps across lines
    assert 'Evil&Co<imgsrc="file:///etc/passwd">' in squeezed and "127.0.0.1:9/x.css" in squeezed
    assert fetched == []


def test_statement_lists_disputes_and_promotional_credit_apart_and_still_equals_the_ledger(
    customer, credited_topup, seller, make_user
):
    from wallet.services import credits

    first_day = statements.previous_month(timezone.localdate())
    start, _, _ = statements.month_bounds(first_day)
    during = start + timedelta(days=2)
    staff = make_user(email="ops@example.com", is_staff=True)
    rows = [
        credited_topup(customer, "100.00").credit_transaction,
        credits.grant(user=customer, amount=D("15.00"), reason="Welcome credit", staff=staff),
        ledger.debit(user=customer, amount=D("40.00"), type=TxType.DISPUTE, description="Card payment disputed"),
    ]
    with connection.cursor() as cursor:
        for entry in rows:
            cursor.execute("UPDATE wallet_wallettransaction SET created_at = %s WHERE id = %s",
                           [during, entry.pk.hex if connection.vendor == "sqlite" else str(entry.pk)])

    doc = statements.issue_statement(user=customer, first_day=first_day)
    assert doc.data["closing"] == "75.00" and doc.data["opening"] == "0.00"
    assert doc.data["promotional"] == "15.00" and doc.data["disputes"] == "-40.00"
    assert doc.data["topups"] == "100.00"  # promotional credit is not a paid supply
    text = text_of(doc)
    for expected in ["Disputed card payments", "Promotional credit (not paid money)", "15.00", "40.00", "75.00"]:
        assert expected in text, expected


def test_usage_paid_with_promotional_credit_is_a_discount_on_the_usage_invoice(customer, seller, make_user):
    """Issue 23: promotional credit is not a paid supply. 21.00 of runs, 10.50 of them paid from a
    grant: the invoice taxes 10.50 (0.50 VAT at 5% inclusive), the discount line says why."""
    from wallet.services import credits

    seller.VAT_TAX_POINT = "usage"
    first_day = statements.previous_month(timezone.localdate())
    start, _, _ = statements.month_bounds(first_day)
    staff = make_user(email="ops@example.com", is_staff=True)
    ledger.credit(user=customer, amount=D("100.00"), type=TxType.ADJUSTMENT, description="opening")
    credits.grant(user=customer, amount=D("10.50"), reason="Welcome credit", staff=staff)
    # Promotional before paid (the spending order): the grant pays the first 10.50.
    ledger.debit(user=customer, amount=D("21.00"), type=TxType.AGENT_USAGE, description="Agent run: Port scanner")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_wallettransaction SET created_at = %s", [start + timedelta(days=1)])
    doc = statements.issue_usage_invoice(user=customer, first_day=first_day)
    assert doc.data["usage_promotional"] == "10.50"
    assert (doc.net_total, doc.tax_total, doc.total) == (D("10.00"), D("0.50"), D("10.50"))
    assert "Paid with promotional credit (discount)" in text_of(doc)
