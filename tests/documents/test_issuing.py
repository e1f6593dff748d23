"""Issuing: invoice per top-up under both tax points, credit notes referencing their invoice,
gapless numbering across a failed transaction, immutability (model, queryset, admin, database)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from documents import issuing
from documents.models import BillingDetails, Document, DocumentCounter, ImmutableDocumentError
from documents.numbering import next_number
from wallet.models import CardRefund, TxType
from wallet.services import ledger

pytestmark = pytest.mark.django_db
D = Decimal


def test_topup_tax_invoice_carries_the_vat(user, credited_topup, seller):
    BillingDetails.objects.create(user=user, legal_name="Falcon Cyber LLC", address="Tower 1, Abu Dhabi",
                                  country="United Arab Emirates", trn="100222333400003")
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user, "100.00").pk)
    assert doc.kind == Document.Kind.TAX_INVOICE and doc.display_number.startswith("INV-")
    assert (doc.net_total, doc.tax_total, doc.total, doc.vat_rate) == (D("95.24"), D("4.76"), D("100.00"), D("5"))
    assert doc.buyer["name"] == "Falcon Cyber LLC" and doc.buyer["trn"] == "100222333400003"
    assert doc.seller["trn"] == "100111222300003"
    # Details changed later do not change the document issued (it keeps its copy).
    BillingDetails.objects.filter(user=user).update(legal_name="Renamed LLC")
    doc.refresh_from_db()
    assert doc.buyer["name"] == "Falcon Cyber LLC"


def test_exclusive_prices_add_the_vat(user, credited_topup, seller):
    seller.VAT_PRICES = "exclusive"
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user, "33.33").pk)
    assert (doc.net_total, doc.tax_total, doc.total) == (D("33.33"), D("1.67"), D("35.00"))


def test_usage_tax_point_gives_a_receipt_without_vat(user, credited_topup, seller):
    seller.VAT_TAX_POINT = "usage"
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user, "100.00").pk)
    assert doc.kind == Document.Kind.RECEIPT and doc.display_number.startswith("RCT-")
    assert (doc.net_total, doc.tax_total, doc.total) == (D("100.00"), D("0.00"), D("100.00"))


def test_issuing_twice_gives_the_same_document_and_no_gap(user, credited_topup, seller):
    topup = credited_topup(user)
    first = issuing.issue_topup_invoice(topup_id=topup.pk)
    assert issuing.issue_topup_invoice(topup_id=topup.pk) == first
    second = issuing.issue_topup_invoice(topup_id=credited_topup(user).pk)
    assert second.number == first.number + 1
    assert Document.objects.count() == 2


def test_receiver_issues_the_invoice_after_commit(user, credited_topup, seller, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        topup = credited_topup(user, "40.00")
    assert issuing.invoice_of(topup.pk).total == D("40.00")


def test_refund_credit_note_references_its_invoice(user, credited_topup, seller):
    topup = credited_topup(user, "100.00")
    invoice = issuing.issue_topup_invoice(topup_id=topup.pk)
    debit = ledger.debit(user=user, amount=D("30.00"), type=TxType.CARD_REFUND, description="Refund to card")
    refund = CardRefund.objects.create(topup=topup, amount=D("30.00"), reason="r", debit_transaction=debit,
                                       status=CardRefund.Status.SUCCEEDED, stripe_refund_id="re_1")
    note = issuing.issue_refund_credit_note(refund_id=refund.pk)
    assert note.kind == Document.Kind.CREDIT_NOTE and note.corrects == invoice and note.card_refund == refund
    # 30 inclusive at 5%: 1.428... -> 1.43 VAT, 28.57 net.
    assert (note.net_total, note.tax_total, note.total) == (D("28.57"), D("1.43"), D("30.00"))
    assert issuing.issue_refund_credit_note(refund_id=refund.pk) == note


def test_dispute_credit_note_once_per_dispute(user, credited_topup, seller):
    topup = credited_topup(user, "50.00")
    note = issuing.issue_dispute_credit_note(topup_id=topup.pk, amount=D("50.00"), dispute_ref="dp_1")
    assert note.corrects == issuing.invoice_of(topup.pk) and note.total == D("50.00")
    assert issuing.issue_dispute_credit_note(topup_id=topup.pk, amount=D("50.00"), dispute_ref="dp_1") == note
    assert Document.objects.filter(kind=Document.Kind.CREDIT_NOTE).count() == 1


def test_numbering_is_gapless_across_a_failed_transaction(seller):
    with transaction.atomic():
        assert next_number(series="TST", year=2026) == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        assert next_number(series="TST", year=2026) == 2
        raise RuntimeError("the document could not be stored")
    with transaction.atomic():
        assert next_number(series="TST", year=2026) == 2
    assert DocumentCounter.objects.get(series="TST", year=2026).last_number == 2


def test_a_failed_issue_gives_its_number_back(user, credited_topup, seller, monkeypatch):
    topup = credited_topup(user)
    monkeypatch.setattr(issuing.parties, "buyer", lambda user: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        issuing.issue_topup_invoice(topup_id=topup.pk)
    monkeypatch.undo()
    assert issuing.issue_topup_invoice(topup_id=topup.pk).number == 1


@pytest.mark.django_db(transaction=True)
def test_next_number_needs_the_issuing_transaction():
    with pytest.raises(RuntimeError):
        next_number(series="TST", year=2026)


def test_documents_cannot_be_changed_or_deleted(user, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user).pk)
    with pytest.raises(ImmutableDocumentError):
        doc.save()
    with pytest.raises(ImmutableDocumentError):
        doc.delete()
    with pytest.raises(ImmutableDocumentError):
        Document.objects.filter(pk=doc.pk).update(total=D("1.00"))
    with pytest.raises(ImmutableDocumentError):
        Document.objects.filter(pk=doc.pk).delete()
    # Past the model: the database's trigger refuses too.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE documents_document SET total = 1 WHERE id = %s", [doc.pk.hex
                       if connection.vendor == "sqlite" else str(doc.pk)])


def test_named_constraints(user, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user).pk)
    base = {f.attname: getattr(doc, f.attname) for f in Document._meta.concrete_fields if f.name != "id"}
    for changes, name in [
        ({"topup_id": None}, "document_unique_number"),
        ({"number": doc.number + 1}, "document_one_invoice_per_topup"),
        ({"topup_id": None, "number": 99, "total": D("1.00")}, "document_total_is_net_plus_tax"),
        ({"topup_id": None, "number": 98, "kind": "credit_note"}, "document_credit_note_references_invoice"),
    ]:
        with pytest.raises(IntegrityError, match=name if connection.vendor == "postgresql" else None), \
                transaction.atomic():
            Document.objects.create(**{**base, **changes})
    with pytest.raises(IntegrityError), transaction.atomic():
        BillingDetails.objects.create(user=user, trn="12345")


def test_a_refund_failed_after_its_credit_note_gets_a_correcting_invoice(
    user, credited_topup, seller, django_capture_on_commit_callbacks
):
    from wallet import payments
    from wallet.services import refunds

    topup = credited_topup(user, "100.00")
    debit = ledger.debit(user=user, amount=D("30.00"), type=TxType.CARD_REFUND, description="Refund to card")
    refund = CardRefund.objects.create(topup=topup, amount=D("30.00"), reason="r", debit_transaction=debit)
    with django_capture_on_commit_callbacks(execute=True):
        refunds.apply_stripe_refund(refund.pk, payments.Refund(id="re_9", status="succeeded", amount=3000))
    note = Document.objects.get(kind=Document.Kind.CREDIT_NOTE, card_refund=refund)
    # Days later Stripe reports the refund failed: the wallet gets the money back (a reversal row).
    with django_capture_on_commit_callbacks(execute=True):
        refunds.apply_stripe_refund(refund.pk, payments.Refund(id="re_9", status="failed", amount=3000))
    fix = Document.objects.get(kind=Document.Kind.TAX_INVOICE, card_refund=refund)
    assert fix.corrects == note and note.display_number in fix.lines[0]["description"]
    assert (fix.net_total, fix.tax_total, fix.total) == (note.net_total, note.tax_total, note.total)
    assert issuing.issue_refund_reversal_invoice(refund_id=refund.pk) == fix
