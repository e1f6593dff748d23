"""/api/v1/documents: the account's invoices, receipts, credit notes and statements (issue 22,
item 6), listed newest first and downloaded as the same PDF the Documents page serves."""

from __future__ import annotations

import uuid
from typing import cast

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router

from authentication.models import ApiKeyScope
from documents.models import Document
from documents.pdf import render_pdf
from wallet.history import decode_cursor, encode_cursor

from .auth import require
from .params import ERRORS, MAX_PAGE_SIZE, PAGE_SIZE, Day, clamp_day
from .problems import NotFound
from .schemas import DocumentKind, DocumentOut, DocumentPage

router = Router(tags=["documents"])

KINDS = "^(" + "|".join(Document.Kind.values) + ")$"
KINDS_TEXT = "One of: " + ", ".join(Document.Kind.values) + "."
PDF_ANSWER = {
    "responses": {
        200: {
            "description": "The document as a PDF file, the same as on the Documents page",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def _out(document: Document) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        kind=cast(DocumentKind, document.kind),
        title=document.get_kind_display(),
        number=document.display_number,
        issued_at=document.issued_at,
        supplied_at=document.supplied_at,
        period_start=document.period_start,
        period_end=document.period_end,
        currency=document.currency,
        net_total=f"{document.net_total:.2f}",
        tax_total=f"{document.tax_total:.2f}",
        total=f"{document.total:.2f}",
        corrects=document.corrects.display_number if document.corrects is not None else None,
        pdf_url=reverse("api-v1:document_pdf", args=[document.id]),
    )


@router.get(
    "", response={200: DocumentPage, **ERRORS}, summary="Documents, newest first",
    operation_id="api_v1_documents", url_name="documents",
)
def documents(
    request: HttpRequest,
    kind: str | None = Query(None, pattern=KINDS, description=KINDS_TEXT),  # noqa: B008
    date_from: Day | None = Query(None, alias="from", description="Issued on or after this day."),  # noqa: B008
    date_to: Day | None = Query(None, alias="to", description="Issued on or before this day."),  # noqa: B008
    cursor: str | None = Query(None, description="The previous page's next_cursor."),  # noqa: B008
    limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Documents per page."),  # noqa: B008
):
    key = require(request, ApiKeyScope.DOCUMENTS_READ)
    qs = Document.objects.filter(user=key.user).select_related("corrects")
    if kind:
        qs = qs.filter(kind=kind)
    # Days are the site's local days (TIME_ZONE), as the Documents page and the PDFs print them.
    if date_from is not None:
        qs = qs.filter(issued_at__date__gte=clamp_day(date_from))
    if date_to is not None:
        qs = qs.filter(issued_at__date__lte=clamp_day(date_to))
    position = decode_cursor(cursor)
    if position is not None:
        when, pk = position
        qs = qs.filter(Q(issued_at__lt=when) | Q(issued_at=when, id__lt=pk))
    rows = list(qs.order_by("-issued_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].issued_at, rows[-1].pk) if more and rows else None
    return DocumentPage(items=[_out(d) for d in rows], next_cursor=next_cursor)


@router.get(
    "/{document_id}/pdf", response=ERRORS, summary="One document as PDF",
    operation_id="api_v1_document_pdf", url_name="document_pdf", openapi_extra=PDF_ANSWER,
)
def document_pdf(request: HttpRequest, document_id: uuid.UUID):
    """Another account's document answers 404, as one that does not exist: ids are not confirmed."""
    key = require(request, ApiKeyScope.DOCUMENTS_READ)
    document = Document.objects.select_related("corrects").filter(pk=document_id, user=key.user).first()
    if document is None:
        raise NotFound(user_message="No such document.")
    answer = HttpResponse(render_pdf(document), content_type="application/pdf")
    answer["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    answer["Cache-Control"] = "private, no-store"
    return answer
