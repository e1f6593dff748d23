"""Documents as PDF (WeasyPrint): one HTML template, headings in English and Arabic (Pango shapes
the Arabic and lays it out right to left). Rendered on demand from the stored document, which
never changes, so the same document always gives the same pages."""

from __future__ import annotations

from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import HTML

from . import vat
from .models import Document

Kind = Document.Kind

# (English, Arabic) titles. Article 59 asks for the words "Tax Invoice" on a tax invoice.
TITLES = {
    Kind.TAX_INVOICE: ("Tax Invoice", "فاتورة ضريبية"),
    Kind.USAGE_INVOICE: ("Tax Invoice", "فاتورة ضريبية"),
    Kind.RECEIPT: ("Receipt", "إيصال استلام"),
    Kind.CREDIT_NOTE: ("Tax Credit Note", "إشعار دائن ضريبي"),
    Kind.STATEMENT: ("Statement of Account", "كشف حساب"),
}
# A simplified tax invoice is allowed for a customer not registered for VAT, or for a supply of
# at most AED 10,000 (Executive Regulation, Article 59(2)); we still print every field we have.
SIMPLIFIED_UP_TO = Decimal("10000.00")


def is_simplified(document: Document) -> bool:
    return document.is_tax_invoice and (not document.buyer.get("trn") or document.total <= SIMPLIFIED_UP_TO)


def context(document: Document) -> dict:
    english, arabic = TITLES[Kind(document.kind)]
    if document.kind == Kind.CREDIT_NOTE and document.tax_total == 0:
        english, arabic = "Credit Note", "إشعار دائن"
    return {
        "doc": document,
        "title": english,
        "title_ar": arabic,
        "simplified": is_simplified(document),
        "lines": [vat.Line.from_json(line) for line in document.lines],
        "issued": timezone.localtime(document.issued_at),
        "figures": document.data,
        "usage": sorted((document.data.get("usage_by_agent") or {}).items()),
        "credit_of": document.corrects,
    }


def render_pdf(document: Document) -> bytes:
    html = render_to_string("documents/pdf/document.html", context(document))
    return HTML(string=html).write_pdf()
