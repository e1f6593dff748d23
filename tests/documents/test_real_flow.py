"""The real money paths against localstripe: a settled top-up is invoiced by its task after commit,
and a refund to the card gets a credit note naming that invoice."""

import uuid
from decimal import Decimal

import pytest

from documents.models import Document
from wallet import services

pytestmark = pytest.mark.django_db


def test_topup_then_refund_give_invoice_and_credit_note(user, make_user, stripe_sandbox, seller,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = services.start_topup(user=user, amount="100.00", payment_method_id="pm_card_visa",
                                      idempotency_key=uuid.uuid4().hex)
    assert result.credited_now
    invoice = Document.objects.get(topup=result.topup, kind=Document.Kind.TAX_INVOICE)
    assert invoice.total == Decimal("100.00") and invoice.tax_total == Decimal("4.76")

    staff = make_user(email="ops@example.com", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_topup(topup=result.topup, amount="40.00", reason="asked", staff=staff)
    note = Document.objects.get(card_refund=refund)
    assert note.kind == Document.Kind.CREDIT_NOTE and note.corrects == invoice
    # 40 inclusive at 5%: 1.904... -> 1.90 VAT.
    assert (note.net_total, note.tax_total, note.total) == (Decimal("38.10"), Decimal("1.90"), Decimal("40.00"))
