"""GET /api/v1/documents and /api/v1/documents/{id}/pdf with real keys (issue 22, item 6): the
account's own documents only, the `documents:read` scope, cursor pages, kind and date filters."""

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from pypdf import PdfReader

from documents import issuing, statements
from wallet.models import TopUp, TxType
from wallet.services import ledger

pytestmark = pytest.mark.django_db
DOCS = ("documents:read",)


@pytest.fixture
def invoiced(settings):
    """invoiced(user, amount) -> the tax invoice of a credited top-up (written as settle_topup leaves
    it, without Stripe: these tests are about the API, not the payment)."""
    settings.INVOICE_SELLER_NAME = "NetCop Security FZ-LLC"
    settings.INVOICE_SELLER_ADDRESS = "Dubai Internet City, Dubai"
    settings.INVOICE_SELLER_TRN = "100111222300003"
    settings.VAT_RATE = Decimal("5.00")
    settings.VAT_TAX_POINT = "topup"
    settings.VAT_PRICES = "inclusive"

    def factory(user, amount="105.00"):
        intent = f"pi_{uuid.uuid4().hex[:20]}"
        entry = ledger.credit(user=user, amount=Decimal(amount), type=TxType.TOP_UP,
                              description=f"Card top-up {amount} AED", stripe_payment_intent_id=intent)
        topup = TopUp.objects.create(
            user=user, amount=Decimal(amount), currency="AED", idempotency_key=uuid.uuid4().hex,
            stripe_payment_intent_id=intent, status=TopUp.Status.SUCCEEDED, credit_transaction=entry,
        )
        return issuing.issue_topup_invoice(topup_id=topup.pk)

    return factory


def get(client, path, secret):
    return client.get(f"/api/v1{path}", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_lists_own_documents_newest_first_with_totals(client, make_user, make_key, invoiced):
    user = make_user()
    first = invoiced(user, "105.00")
    second = invoiced(user, "21.00")
    invoiced(make_user(email="other@example.com"))  # someone else's: never listed
    _, secret = make_key(user, scopes=DOCS)
    r = get(client, "/documents", secret)
    assert r.status_code == 200, r.content
    items = r.json()["items"]
    assert [d["number"] for d in items] == [second.display_number, first.display_number]
    assert r.json()["next_cursor"] is None
    one = items[1]
    assert (one["kind"], one["title"], one["currency"]) == ("tax_invoice", "Tax invoice", "AED")
    assert (one["net_total"], one["tax_total"], one["total"]) == ("100.00", "5.00", "105.00")
    assert one["pdf_url"] == f"/api/v1/documents/{first.pk}/pdf" and one["corrects"] is None


def test_credit_note_names_the_invoice_it_corrects(client, make_user, make_key, invoiced):
    user = make_user()
    invoice = invoiced(user, "105.00")
    note = issuing.issue_dispute_credit_note(topup_id=invoice.topup_id, amount=Decimal("105.00"),
                                             dispute_ref="dp_test_1")
    _, secret = make_key(user, scopes=DOCS)
    items = get(client, "/documents?kind=credit_note", secret).json()["items"]
    assert [(d["number"], d["corrects"]) for d in items] == [(note.display_number, invoice.display_number)]


def test_kind_and_date_filters(client, make_user, make_key, invoiced):
    user = make_user()
    invoiced(user)
    last_month = statements.previous_month(timezone.localdate())
    statement = statements.issue_statement(user=user, first_day=last_month)
    _, secret = make_key(user, scopes=DOCS)
    today = timezone.localdate()
    kinds = [d["kind"] for d in get(client, "/documents?kind=statement", secret).json()["items"]]
    assert kinds == ["statement"]
    st = get(client, "/documents?kind=statement", secret).json()["items"][0]
    assert (st["period_start"], st["number"]) == (last_month.isoformat(), statement.display_number)
    assert len(get(client, f"/documents?from={today}&to={today}", secret).json()["items"]) == 2
    tomorrow, yesterday = today + dt.timedelta(days=1), today - dt.timedelta(days=1)
    assert get(client, f"/documents?from={tomorrow}", secret).json()["items"] == []
    assert get(client, f"/documents?to={yesterday}", secret).json()["items"] == []
    bad = get(client, "/documents?kind=invoice", secret)
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"
    assert get(client, "/documents?from=0", secret).status_code == 422


def test_cursor_walks_every_document_once(client, make_user, make_key, invoiced):
    user = make_user()
    made = [invoiced(user, "10.50").display_number for _ in range(5)]
    _, secret = make_key(user, scopes=DOCS)
    seen, cursor = [], ""
    for _ in range(10):
        page = get(client, f"/documents?limit=2&cursor={cursor}", secret).json()
        seen += [d["number"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_pdf_is_the_owners_only(client, make_user, make_key, invoiced):
    user = make_user()
    doc = invoiced(user)
    _, secret = make_key(user, scopes=DOCS)
    r = get(client, f"/documents/{doc.pk}/pdf", secret)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert doc.filename in r["Content-Disposition"] and r["Cache-Control"] == "private, no-store"
    text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert doc.display_number in text and "Tax Invoice" in text
    _, mallory = make_key(make_user(email="mallory@example.com"), scopes=DOCS)
    stolen = get(client, f"/documents/{doc.pk}/pdf", mallory)
    missing = get(client, f"/documents/{uuid.uuid4()}/pdf", secret)
    for answer in (stolen, missing):
        assert answer.status_code == 404 and answer["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "not_found" and answer.json()["detail"] == "No such document."


def test_documents_need_the_scope_and_a_key(client, make_user, make_key, invoiced):
    user = make_user()
    doc = invoiced(user)
    _, secret = make_key(user)  # agents:run, wallet:read, history:read: not documents:read
    for path in ("/documents", f"/documents/{doc.pk}/pdf"):
        r = get(client, path, secret)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", r.content
        assert client.get(f"/api/v1{path}").status_code == 401


def test_scope_is_offered_on_the_key_page_and_in_the_docs(client, make_user):
    client.force_login(make_user())
    assert b'value="documents:read"' in client.get("/accounts/api-keys/").content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "/api/v1/documents/{document_id}/pdf" in docs and "documents:read" in docs
    # The PDF's answer names its media type (not a schema link that leads nowhere).
    assert "<code>application/pdf</code>" in docs and 'href="#schema-string' not in docs
