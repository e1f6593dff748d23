"""Billing details and the Documents page in Chromium, at 1280 and 375 px: a bad TRN is explained
next to its field, a good one saved; the invoice downloads as a PDF from the Documents page and the
history row. DOCUMENT_SHOTS=<dir> keeps screenshots for looking at."""

import io
import os
import uuid
from decimal import Decimal

import pytest
from pypdf import PdfReader

from documents.models import BillingDetails, Document
from wallet.models import TopUp, TxType
from wallet.services import ledger

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("DOCUMENT_SHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def credited(user, amount):
    intent = f"pi_{uuid.uuid4().hex[:20]}"
    entry = ledger.credit(user=user, amount=Decimal(amount), type=TxType.TOP_UP,
                          description=f"Card top-up {amount} AED", stripe_payment_intent_id=intent)
    # Saved the way settle_topup saves it: the receiver issues the invoice after commit.
    return TopUp.objects.create(user=user, amount=Decimal(amount), currency="AED", idempotency_key=intent,
                                stripe_payment_intent_id=intent, status=TopUp.Status.SUCCEEDED,
                                credit_transaction=entry)


@pytest.mark.parametrize("width", [1280, 375])
def test_billing_details_and_documents(live_server, make_user, login, expect, width):
    user = make_user(email=f"w{width}@example.com")
    page = login(user)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/wallet/settings/")
    page.get_by_label("Company or legal name").fill("Falcon Cyber LLC")
    page.get_by_label("Address").fill("Office 1404, Al Maqam Tower\nAbu Dhabi")
    page.get_by_label("Country").fill("United Arab Emirates")
    page.get_by_label("Tax Registration Number (TRN)").fill("1234")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.get_by_role("alert")).to_contain_text("A Tax Registration Number is 15 digits")
    shot(page, f"billing-details-error-{width}")
    page.get_by_label("Tax Registration Number (TRN)").fill("100 2223 3340 0003")
    page.get_by_role("button", name="Save billing details").click()
    expect(page.get_by_text("Your billing details were saved")).to_be_visible()
    assert BillingDetails.objects.get(user=user).trn == "100222333400003"
    page.locator("#billing-details").scroll_into_view_if_needed()
    shot(page, f"billing-details-saved-{width}")

    topup = credited(user, "100.00")
    document = Document.objects.get(topup=topup)
    page.goto(f"{live_server.url}/documents/")
    expect(page.get_by_text(document.display_number, exact=True)).to_be_visible()
    shot(page, f"documents-page-{width}")
    with page.expect_download() as download:
        page.get_by_role("link", name=f"PDF of {document.display_number}").click()
    with open(download.value.path(), "rb") as pdf:
        text = PdfReader(io.BytesIO(pdf.read())).pages[0].extract_text()
    assert "Falcon Cyber LLC" in text and "100222333400003" in text and document.display_number in text

    page.goto(f"{live_server.url}/wallet/history/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Invoice PDF").first.click()
    assert download.value.suggested_filename == document.filename
    shot(page, f"history-{width}")
