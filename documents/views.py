"""The Documents page, PDF downloads and the billing details form's target."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from wallet.models import Dispute

from .forms import BillingDetailsForm
from .models import BillingDetails, Document
from .pdf import render_pdf


@require_GET
@login_required
def documents_page(request):
    documents = Document.objects.filter(user=request.user).order_by("-issued_at")[:200]
    return render(request, "documents/list.html", {"documents": documents})


def _pdf(document: Document) -> HttpResponse:
    response = HttpResponse(render_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def download(request, document_id):
    # Another account's document is a 404, like one that does not exist: ids are not confirmed.
    return _pdf(get_object_or_404(Document, pk=document_id, user=request.user))


@require_GET
@login_required
def for_entry(request, entry_id):
    """The document of a history row: a top-up's invoice or receipt, a refund's credit note, a
    dispute's credit note, and the invoice or receipt that corrects it when the dispute was won."""
    mine = Document.objects.filter(user=request.user)  # another account's: a 404 like none
    invoices = [Document.Kind.TAX_INVOICE, Document.Kind.RECEIPT]
    dispute = Dispute.objects.filter(user=request.user, debit_transaction_id=entry_id).first()
    won = Dispute.objects.filter(user=request.user, reinstatement_transaction_id=entry_id).first()
    document = (
        mine.filter(topup__credit_transaction_id=entry_id, kind__in=invoices).first()
        or mine.filter(card_refund__debit_transaction_id=entry_id, kind=Document.Kind.CREDIT_NOTE).first()
        or (mine.filter(dispute_ref=dispute.stripe_dispute_id).first() if dispute else None)
        or (mine.filter(kind__in=invoices, corrects__dispute_ref=won.stripe_dispute_id).first()
            if won else None)
    )
    if document is None:
        raise Http404("No document for this entry yet.")
    return _pdf(document)


@require_POST
@login_required
def save_billing_details(request):
    details = BillingDetails.objects.filter(user=request.user).first() or BillingDetails(user=request.user)
    form = BillingDetailsForm(request.POST, instance=details, prefix="details")
    if form.is_valid():
        form.save()
        messages.success(request, "Your billing details were saved. New documents will carry them.")
        return redirect("wallet:settings")
    return render(request, "documents/billing_details_page.html", {"details_form": form}, status=400)
