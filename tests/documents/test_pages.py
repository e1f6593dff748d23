"""Billing details on the settings page, the Documents page, downloads (own documents only), the
history row's link, and the admin (listed, downloadable, never editable or deletable)."""

import io

import pytest
from pypdf import PdfReader

from documents import issuing
from documents.models import BillingDetails, Document

pytestmark = pytest.mark.django_db


def test_settings_page_shows_and_saves_billing_details(auth_client, user):
    page = auth_client.get("/wallet/settings/")
    assert page.status_code == 200 and b"Billing details for invoices" in page.content
    response = auth_client.post("/documents/billing-details/", {
        "details-legal_name": "Falcon Cyber LLC", "details-address": "Tower 1\nAbu Dhabi",
        "details-country": "United Arab Emirates", "details-trn": "100-2223-3340-0003",
        "details-invoice_email": "ap@falcon.example",
    })
    assert response.status_code == 302 and response["Location"] == "/wallet/settings/"
    details = BillingDetails.objects.get(user=user)
    assert (details.legal_name, details.trn, details.invoice_email) == (
        "Falcon Cyber LLC", "100222333400003", "ap@falcon.example")
    assert b'value="Falcon Cyber LLC"' in auth_client.get("/wallet/settings/").content


def test_a_bad_trn_is_refused_with_a_clear_message(auth_client, user):
    response = auth_client.post("/documents/billing-details/", {"details-trn": "12345"})
    assert response.status_code == 400
    assert b"A Tax Registration Number is 15 digits" in response.content
    assert not BillingDetails.objects.exists()


def test_billing_details_need_csrf(client, user):
    client.handler.enforce_csrf_checks = True
    client.force_login(user)
    assert client.post("/documents/billing-details/", {"details-legal_name": "X"}).status_code == 403


def test_documents_page_and_downloads(auth_client, user, make_user, credited_topup, seller):
    topup = credited_topup(user, "100.00")
    doc = issuing.issue_topup_invoice(topup_id=topup.pk)
    page = auth_client.get("/documents/")
    assert page.status_code == 200 and doc.display_number.encode() in page.content
    response = auth_client.get(f"/documents/{doc.pk}.pdf")
    assert response["Content-Type"] == "application/pdf"
    assert doc.filename in response["Content-Disposition"]
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert doc.display_number in text
    # From the history row: the ledger entry's document.
    history = auth_client.get("/wallet/history/")
    link = f"/documents/entries/{topup.credit_transaction_id}.pdf"
    assert link.encode() in history.content
    assert auth_client.get(link).status_code == 200


def test_someone_elses_document_is_not_found(client, user, make_user, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user).pk)
    client.force_login(make_user(email="mallory@example.com"))
    assert client.get(f"/documents/{doc.pk}.pdf").status_code == 404
    assert client.get(f"/documents/entries/{doc.topup.credit_transaction_id}.pdf").status_code == 404
    assert doc.display_number.encode() not in client.get("/documents/").content


def test_documents_need_login(client):
    assert client.get("/documents/").status_code == 302


def test_admin_lists_documents_read_only(client, make_user, user, credited_topup, seller):
    doc = issuing.issue_topup_invoice(topup_id=credited_topup(user).pk)
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    listing = client.get("/admin/documents/document/")
    assert listing.status_code == 200 and doc.display_number.encode() in listing.content
    change = client.get(f"/admin/documents/document/{doc.pk}/change/")
    assert change.status_code == 200 and b'name="total"' not in change.content
    assert client.post(f"/admin/documents/document/{doc.pk}/change/", {"total": "1.00"}).status_code == 403
    assert client.get(f"/admin/documents/document/{doc.pk}/delete/").status_code == 403
    assert client.post("/admin/documents/document/", {
        "action": "delete_selected", "_selected_action": [str(doc.pk)], "post": "yes"}).status_code in (200, 302)
    assert Document.objects.filter(pk=doc.pk, total=doc.total).exists()
    assert client.get("/admin/documents/document/add/").status_code == 403
    pdf = client.get(f"/admin/documents/document/{doc.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
