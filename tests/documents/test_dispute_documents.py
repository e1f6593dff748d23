"""A dispute on paper (issue 20 + 22): the bank took money back, so a tax credit note names the top-up's
invoice; a dispute won gives it back, so an invoice corrects that credit note. Each once."""

from decimal import Decimal as D

import pytest
from django.db import IntegrityError
from django.utils import timezone

from documents import issuing
from documents.models import Document
from wallet.models import Dispute

pytestmark = pytest.mark.django_db


def _dispute(topup, *, amount, taken, owed=D("0.00"), withdrawn=True, ref="dp_test_1"):
    return Dispute.objects.create(
        stripe_dispute_id=ref, topup=topup, user=topup.user, disputed_amount=amount, amount=amount,
        taken_amount=taken, owed_amount=owed, status=Dispute.Status.NEEDS_RESPONSE,
        withdrawn_at=timezone.now() if withdrawn else None,
    )


def test_an_applied_dispute_gets_one_credit_note_for_all_it_took_owed_part_included(user, credited_topup, seller):
    topup = credited_topup(user, "100.00")
    dispute = _dispute(topup, amount=D("100.00"), taken=D("60.00"), owed=D("40.00"))
    [note] = issuing.issue_dispute_documents(dispute_id=dispute.pk)
    assert note.kind == Document.Kind.CREDIT_NOTE and note.dispute_ref == "dp_test_1"
    assert note.corrects == issuing.invoice_of(topup.pk)
    # 100 inclusive of 5% VAT: 95.24 + 4.76.
    assert (note.net_total, note.tax_total, note.total) == (D("95.24"), D("4.76"), D("100.00"))
    assert issuing.issue_dispute_documents(dispute_id=dispute.pk) == [note]
    assert Document.objects.filter(kind=Document.Kind.CREDIT_NOTE).count() == 1


def test_a_dispute_not_applied_yet_issues_nothing(user, credited_topup, seller):
    topup = credited_topup(user, "100.00")
    dispute = _dispute(topup, amount=D("0.00"), taken=D("0.00"), withdrawn=False)
    assert issuing.issue_dispute_documents(dispute_id=dispute.pk) == []
    assert not Document.objects.filter(kind=Document.Kind.CREDIT_NOTE).exists()


def test_a_won_dispute_gets_an_invoice_that_corrects_its_credit_note_once(user, credited_topup, seller):
    topup = credited_topup(user, "50.00")
    dispute = _dispute(topup, amount=D("50.00"), taken=D("50.00"))
    [note] = issuing.issue_dispute_documents(dispute_id=dispute.pk)
    Dispute.objects.filter(pk=dispute.pk).update(reinstated_at=timezone.now(), reinstated_amount=D("50.00"))
    first = issuing.issue_dispute_documents(dispute_id=dispute.pk)
    assert first[0] == note
    correction = first[1]
    assert correction.kind == Document.Kind.TAX_INVOICE and correction.corrects == note
    assert correction.total == D("50.00") and note.display_number in correction.lines[0]["description"]
    assert issuing.issue_dispute_documents(dispute_id=dispute.pk) == [note, correction]
    assert Document.objects.filter(corrects=note).count() == 1


def test_the_database_refuses_a_second_correction_of_one_credit_note(user, credited_topup, seller):
    topup = credited_topup(user, "50.00")
    dispute = _dispute(topup, amount=D("50.00"), taken=D("50.00"))
    [note] = issuing.issue_dispute_documents(dispute_id=dispute.pk)
    Dispute.objects.filter(pk=dispute.pk).update(reinstated_at=timezone.now(), reinstated_amount=D("50.00"))
    issuing.issue_dispute_documents(dispute_id=dispute.pk)
    with pytest.raises(IntegrityError):
        issuing.issue(kind=Document.Kind.TAX_INVOICE, user=user, lines=[], prices=note.prices,
                      rate=note.vat_rate, currency="AED", corrects=note)


def test_saving_an_applied_dispute_issues_its_credit_note_through_the_task(
    user, credited_topup, seller, django_capture_on_commit_callbacks
):
    topup = credited_topup(user, "80.00")
    with django_capture_on_commit_callbacks(execute=True):
        _dispute(topup, amount=D("80.00"), taken=D("80.00"), ref="dp_task")
    note = Document.objects.get(dispute_ref="dp_task")
    assert note.total == D("80.00") and note.corrects.topup == topup


def test_the_monthly_safety_net_issues_a_lost_dispute_credit_note(user, credited_topup, seller):
    topup = credited_topup(user, "30.00")
    issuing.issue_topup_invoice(topup_id=topup.pk)
    Dispute.objects.bulk_create([Dispute(  # bulk_create: no post_save, as if the task was lost
        stripe_dispute_id="dp_lost", topup=topup, user=user, disputed_amount=D("30.00"), amount=D("30.00"),
        taken_amount=D("30.00"), status=Dispute.Status.LOST, withdrawn_at=timezone.now(),
    )])
    assert issuing.issue_missing() == 1
    assert Document.objects.get(dispute_ref="dp_lost").total == D("30.00")


def test_history_rows_of_a_dispute_link_their_documents(auth_client, user, make_user, credited_topup, seller):
    """The dispute's debit row downloads its credit note, the won dispute's credit row the invoice
    that corrects it; someone else asking for either gets a 404."""
    from wallet.models import TxType
    from wallet.services import ledger

    topup = credited_topup(user, "50.00")
    debit = ledger.debit(user=user, amount=D("50.00"), type=TxType.DISPUTE, description="Card payment disputed")
    dispute = _dispute(topup, amount=D("50.00"), taken=D("50.00"))
    Dispute.objects.filter(pk=dispute.pk).update(debit_transaction=debit)
    [note] = issuing.issue_dispute_documents(dispute_id=dispute.pk)
    back = ledger.credit(user=user, amount=D("50.00"), type=TxType.DISPUTE_REINSTATED, description="Dispute won")
    Dispute.objects.filter(pk=dispute.pk).update(
        reinstated_at=timezone.now(), reinstated_amount=D("50.00"), reinstatement_transaction=back)
    correction = issuing.issue_dispute_documents(dispute_id=dispute.pk)[1]

    history = auth_client.get("/wallet/history/").content.decode()
    for entry, document in ((debit, note), (back, correction)):
        link = f"/documents/entries/{entry.pk}.pdf"
        assert link in history
        answer = auth_client.get(link)
        assert answer.status_code == 200 and document.filename in answer["Content-Disposition"]
    auth_client.force_login(make_user(email="mallory@example.com"))
    assert auth_client.get(f"/documents/entries/{debit.pk}.pdf").status_code == 404
