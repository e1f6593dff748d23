"""Issuing documents for money that moved: a tax invoice or receipt per top-up, a tax credit note per
refund to card or dispute. Every function is safe to call twice (a task delivered twice): the
document's unique constraints turn the second issue into a look-up, and its rolled-back number
leaves no gap.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from wallet.models import CardRefund, Dispute, TopUp
from wallet.money import format_money

from . import parties, vat
from .models import Document
from .numbering import next_number

logger = logging.getLogger(__name__)

Kind = Document.Kind


def issue(*, kind: str, user, lines: list[vat.Line], prices: str, rate: Decimal, supplied_at=None,
          currency: str = "", **links) -> Document:
    """Number and store one document in one transaction (the counter row stays locked until commit).
    `links` are the document's other fields (topup, card_refund, corrects, period_start, data...)."""
    now = timezone.now()
    year = timezone.localtime(now).year
    series = Document.SERIES[Kind(kind)]
    sums = vat.totals(lines)
    with transaction.atomic():
        # Lock order (design.md): the account's row first. PostgreSQL checks the document's foreign
        # keys at commit, taking KEY SHARE locks on the user and top-up rows; a settle holding the user
        # row while it waits for the top-up row would deadlock with that. Locked here first, a
        # document waits behind a settle instead (and a settle behind it), never across it.
        list(get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk"))
        number = next_number(series=series, year=year)
        return Document.objects.create(
            kind=kind, series=series, year=year, number=number, user=user, issued_at=now,
            supplied_at=supplied_at or timezone.localdate(now), seller=parties.seller(),
            buyer=parties.buyer(user), currency=currency or settings.WALLET_CURRENCY,
            vat_rate=rate, prices=prices,
            lines=[line.as_json() for line in lines], net_total=sums.net, tax_total=sums.tax,
            total=sums.gross, **links,
        )


def invoice_of(topup_id) -> Document | None:
    return Document.objects.filter(topup_id=topup_id, kind__in=[Kind.TAX_INVOICE, Kind.RECEIPT]).first()


def issue_topup_invoice(*, topup_id) -> Document | None:
    """The tax invoice (VAT_TAX_POINT=topup) or receipt (=usage) of a credited top-up; None if the
    top-up is not credited. The existing one when issued already."""
    existing = invoice_of(topup_id)
    if existing is not None:
        return existing
    topup = (
        TopUp.objects.select_related("user", "credit_transaction")
        .filter(pk=topup_id, status=TopUp.Status.SUCCEEDED, credit_transaction__isnull=False)
        .first()
    )
    if topup is None or topup.credit_transaction is None:
        return None
    what = "Automatic wallet top-up" if topup.is_automatic else "Wallet top-up"
    supplied = timezone.localdate(topup.credit_transaction.created_at)
    if settings.VAT_TAX_POINT == "topup":
        kind = Kind.TAX_INVOICE
        description = f"{what}: prepaid credit for NetCop agent runs"
        line = vat.taxed_line(description=description, amount=topup.amount, rate=settings.VAT_RATE,
                              prices=settings.VAT_PRICES)
        rate = settings.VAT_RATE
    else:
        # A prepayment: VAT falls on the usage, invoiced monthly; the receipt carries none.
        kind = Kind.RECEIPT
        line = vat.untaxed_line(description=f"{what}: prepayment, VAT invoiced on usage", amount=topup.amount)
        rate = Decimal("0.00")
    try:
        return issue(kind=kind, user=topup.user, lines=[line], prices=settings.VAT_PRICES, rate=rate,
                     supplied_at=supplied, currency=topup.currency, topup=topup)
    except IntegrityError:
        # A twin task issued it first; its number was rolled back with this transaction.
        found = invoice_of(topup_id)
        if found is None:
            raise
        return found


def _credit_line(invoice: Document, amount: Decimal, description: str) -> vat.Line:
    """A credit of `amount` (what went back), taxed as its invoice was (rate and price basis)."""
    if invoice.kind == Kind.RECEIPT or invoice.vat_rate == 0:
        return vat.untaxed_line(description=description, amount=amount)
    return vat.taxed_line(
        description=description, amount=amount, rate=invoice.vat_rate, prices=invoice.prices
    )


def _issue_credit(*, topup_id, amount: Decimal, description: str, lookup: dict, **links) -> Document | None:
    existing = Document.objects.filter(kind=Kind.CREDIT_NOTE, **lookup).first()
    if existing is not None:
        return existing
    invoice = issue_topup_invoice(topup_id=topup_id)
    if invoice is None:
        return None
    line = _credit_line(invoice, amount, description)
    try:
        return issue(kind=Kind.CREDIT_NOTE, user=invoice.user, lines=[line], prices=invoice.prices,
                     rate=invoice.vat_rate if line.tax else Decimal("0.00"), currency=invoice.currency,
                     corrects=invoice, **links)
    except IntegrityError:
        found = Document.objects.filter(kind=Kind.CREDIT_NOTE, **lookup).first()
        if found is None:
            raise
        return found


def issue_refund_credit_note(*, refund_id) -> Document | None:
    """The tax credit note of a refund to card that went through (it names the invoice it corrects)."""
    refund = CardRefund.objects.filter(
        pk=refund_id, status=CardRefund.Status.SUCCEEDED, debit_transaction__isnull=False
    ).first()
    if refund is None:
        return None
    description = "Refund to card of a wallet top-up"
    return _issue_credit(topup_id=refund.topup_id, amount=refund.amount, description=description,
                         lookup={"card_refund": refund}, card_refund=refund)


def issue_refund_reversal_invoice(*, refund_id) -> Document | None:
    """Stripe failed a refund after we had confirmed it: the money went back into the wallet and
    the refund's credit note no longer holds. A document is never edited, so a new invoice (or
    receipt, as the credit note was taxed or not) for the same amount corrects the credit note."""
    refund = CardRefund.objects.filter(
        pk=refund_id, status=CardRefund.Status.FAILED, reversal_transaction__isnull=False
    ).first()
    note = Document.objects.filter(kind=Kind.CREDIT_NOTE, card_refund_id=refund_id).first()
    if refund is None or note is None:
        return None  # no credit note was issued for it: nothing to correct
    kind = Kind.TAX_INVOICE if note.tax_total else Kind.RECEIPT
    lookup = {"card_refund_id": refund_id, "kind": kind}
    existing = Document.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    credited = vat.Line.from_json(note.lines[0])
    description = f"Refund to card reversed (corrects {note.display_number})"
    line = vat.Line(description, credited.net, credited.tax, credited.gross)
    try:
        return issue(kind=kind, user=note.user, lines=[line], prices=note.prices, rate=note.vat_rate,
                     currency=note.currency, card_refund=refund, corrects=note)
    except IntegrityError:
        found = Document.objects.filter(**lookup).first()
        if found is None:
            raise
        return found


def issue_dispute_credit_note(*, topup_id, amount: Decimal, dispute_ref: str) -> Document | None:
    """The tax credit note of a dispute that took `amount` back (for wallet.services disputes to
    call through a receiver once merged). Once per dispute id."""
    if not dispute_ref:
        raise ValueError("a dispute credit note needs the dispute id")
    description = f"Card payment disputed: {format_money(Decimal(amount))} taken back"
    return _issue_credit(topup_id=topup_id, amount=Decimal(amount), description=description,
                         lookup={"dispute_ref": dispute_ref}, dispute_ref=dispute_ref)


def _issue_correction(*, note: Document, amount: Decimal, description: str, **links) -> Document:
    """An invoice (or receipt, as `note` was taxed or not) that corrects a credit note whose money came
    back into the wallet. Once per credit note and kind (document_one_correction_per_kind)."""
    kind = Kind.TAX_INVOICE if note.tax_total else Kind.RECEIPT
    lookup = {"corrects": note, "kind": kind}
    existing = Document.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    credited = vat.Line.from_json(note.lines[0])
    if amount == credited.gross:
        line = vat.Line(description, credited.net, credited.tax, credited.gross)
    else:  # a part of the credit note: the same arithmetic as a credit line of that invoice
        line = _credit_line(note, amount, description)
    try:
        return issue(kind=kind, user=note.user, lines=[line], prices=note.prices, rate=note.vat_rate,
                     currency=note.currency, corrects=note, **links)
    except IntegrityError:
        found = Document.objects.filter(**lookup).first()
        if found is None:
            raise
        return found


def issue_dispute_documents(*, dispute_id) -> list[Document]:
    """What a dispute changed, on paper: the tax credit note for the money the bank took back (its
    whole applied amount, owed part included: the customer got it back), and, once the dispute is
    won, the invoice that corrects that credit note for what was given back. Safe to call twice."""
    dispute = Dispute.objects.filter(pk=dispute_id, withdrawn_at__isnull=False).first()
    if dispute is None or not dispute.amount:
        return []
    note = issue_dispute_credit_note(
        topup_id=dispute.topup_id, amount=dispute.amount, dispute_ref=dispute.stripe_dispute_id
    )
    if note is None:
        return []
    issued = [note]
    if dispute.reinstated_at is not None and dispute.reinstated_amount:
        description = (
            f"Card payment dispute won: {format_money(dispute.reinstated_amount)} given back "
            f"(corrects {note.display_number})"
        )
        issued.append(_issue_correction(note=note, amount=dispute.reinstated_amount, description=description))
    return issued


def issue_missing(*, limit: int = 500) -> int:
    """Issue what a lost task left undone (a queue outage at the moment of commit), oldest first:
    invoices of credited top-ups, then credit notes of completed refunds. The number issued."""
    invoiced = Document.objects.filter(kind__in=[Kind.TAX_INVOICE, Kind.RECEIPT]).values("topup_id")
    topups = list(
        TopUp.objects.filter(status=TopUp.Status.SUCCEEDED, credit_transaction__isnull=False)
        .exclude(pk__in=invoiced).order_by("created_at").values_list("pk", flat=True)[:limit]
    )
    for topup_id in topups:
        issue_topup_invoice(topup_id=topup_id)
    noted = Document.objects.filter(kind=Kind.CREDIT_NOTE, card_refund__isnull=False).values("card_refund_id")
    refunds = list(
        CardRefund.objects.filter(status=CardRefund.Status.SUCCEEDED, debit_transaction__isnull=False)
        .exclude(pk__in=noted).order_by("created_at").values_list("pk", flat=True)[:limit]
    )
    for refund_id in refunds:
        issue_refund_credit_note(refund_id=refund_id)
    noted_disputes = Document.objects.exclude(dispute_ref="").values("dispute_ref")
    disputes = list(
        Dispute.objects.filter(withdrawn_at__isnull=False, amount__gt=0)
        .exclude(stripe_dispute_id__in=noted_disputes)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for dispute_id in disputes:
        issue_dispute_documents(dispute_id=dispute_id)
    return len(topups) + len(refunds) + len(disputes)
