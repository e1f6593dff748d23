"""Sums checked by the database in whole fils (review of issues 20 and 22): SQLite keeps NUMERIC as
REAL, where 7.59 + 2.63 != 10.22, so a dispute or a document with such parts was refused on the
embedded default database. The checks still refuse parts that do not add up."""

from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from documents.models import Document
from wallet.models import Dispute

pytestmark = pytest.mark.django_db


def _dispute(topup, amount, taken, owed, ref):
    return Dispute.objects.create(
        stripe_dispute_id=ref, topup=topup, user=topup.user, disputed_amount=amount, amount=amount,
        taken_amount=taken, owed_amount=owed, status=Dispute.Status.NEEDS_RESPONSE, withdrawn_at=timezone.now(),
    )


def test_a_dispute_whose_parts_add_up_in_fils_is_stored(user, credited_topup):
    topup = credited_topup(user, "10.22")
    _dispute(topup, D("10.22"), D("7.59"), D("2.63"), "dp_float")
    with pytest.raises(IntegrityError), transaction.atomic():
        _dispute(topup, D("10.22"), D("7.59"), D("2.62"), "dp_short")


def test_a_document_whose_total_is_net_plus_tax_in_fils_is_stored(user, credited_topup, seller):
    from documents import issuing, vat

    line = vat.Line("Wallet top-up", D("7.59"), D("2.63"), D("10.22"))
    doc = issuing.issue(kind=Document.Kind.TAX_INVOICE, user=user, lines=[line], prices="inclusive",
                        rate=D("5.00"))
    assert doc.total == D("10.22")
    wrong = vat.Line("Wallet top-up", D("7.59"), D("2.62"), D("10.22"))  # a fils short
    with pytest.raises(IntegrityError), transaction.atomic():
        issuing.issue(kind=Document.Kind.TAX_INVOICE, user=user, lines=[wrong], prices="inclusive",
                      rate=D("5.00"))
