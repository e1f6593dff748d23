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


def is_simplified(document: Document) -> bool:
    """A customer not registered for VAT may get a simplified tax invoice (Executive Regulation,
    Article 59(2)); it is marked as such, though it still prints every field we have. A registered
    customer always gets the full form, which their input-tax claim can rely on at any amount."""
    return document.is_tax_invoice and not document.buyer.get("trn")


MINUS = "\u2212"  # a real minus sign, as the site prints amounts


def signed(value) -> str:
    value = Decimal(value)
    return f"{MINUS}{-value:.2f}" if value < 0 else f"{value:.2f}"


def statement_rows(figures: dict) -> list[tuple[str, str, str]]:
    """(English, Arabic, amount) for each line of a statement, signed as they move the balance."""
    if not figures:
        return []
    usage = sorted((figures.get("usage_by_agent") or {}).items())
    return [
        ("Top-ups", "عمليات الشحن", signed(figures["topups"])),
        *[(f"Agent usage: {name}", "", signed(-Decimal(amount))) for name, amount in usage],
        *([] if usage else [("Agent usage", "استخدام الوكلاء", signed(0))]),
        ("Refunds of agent runs", "استرداد تشغيل الوكلاء", signed(figures["agent_refunds"])),
        ("Refunds to card", "المبالغ المستردة إلى البطاقة", signed(figures["card_refunds"])),
        ("Adjustments", "التسويات", signed(figures["adjustments"])),
        # Statements issued before these lines existed have no such figures: shown only when present.
        *([("Disputed card payments", "المدفوعات المعترض عليها", signed(figures["disputes"]))]
          if Decimal(figures.get("disputes") or 0) else []),
        *([("Promotional credit (not paid money)", "الرصيد الترويجي", signed(figures["promotional"]))]
          if Decimal(figures.get("promotional") or 0) else []),
    ]


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
        "statement_rows": statement_rows(document.data) if document.kind == Kind.STATEMENT else [],
        "credit_of": document.corrects,
    }


def _no_fetch(url: str, *args, **kwargs):
    # Everything a document shows is in its HTML; refusing every URL means no text a customer typed
    # (their address, say) could make the renderer fetch anything, on the network or from disk.
    raise ValueError(f"documents fetch no resources ({url[:40]!r})")


def render_pdf(document: Document) -> bytes:
    html = render_to_string("documents/pdf/document.html", context(document))
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf()
