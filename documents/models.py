"""Billing details and issued documents (tax invoices, receipts, credit notes, statements).

A document is immutable once issued: the model and its queryset refuse updates and deletes, and a
database trigger (migration 0002) refuses them too; a mistake is corrected by a new document (a
credit note). Its number comes from DocumentCounter, locked in the transaction that issues it, so
each series has no gaps within a year.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.db.models.lookups import Exact

TRN_VALIDATOR = RegexValidator(r"^[0-9]{15}$", "A Tax Registration Number is 15 digits.")


class ImmutableDocumentError(Exception):
    """Raised when code tries to edit or delete an issued document."""


class BillingDetails(models.Model):
    """Who the customer's documents are made out to. Each document keeps its own copy (buyer)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="billing_details"
    )
    legal_name = models.CharField("legal name", max_length=200, blank=True)
    address = models.TextField(max_length=500, blank=True)
    country = models.CharField(max_length=100, blank=True)
    trn = models.CharField(
        "TRN", max_length=15, blank=True, validators=[TRN_VALIDATOR],
        help_text="UAE Tax Registration Number, 15 digits, if the customer is registered for VAT.",
    )
    invoice_email = models.EmailField(
        "invoice email", blank=True, help_text="Where documents are sent; blank = the account's email."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing details"
        verbose_name_plural = "billing details"
        constraints = [
            models.CheckConstraint(
                condition=Q(trn="") | Q(trn__regex=r"^[0-9]{15}$"), name="billingdetails_trn_15_digits"
            ),
        ]

    def __str__(self):
        return self.legal_name or f"Billing details of user {self.user_id}"


class DocumentCounter(models.Model):
    """The last number issued in a series and year; its row is locked while a document is issued."""

    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="documentcounter_unique_series_year"),
        ]

    def __str__(self):
        return f"{self.series} {self.year}: {self.last_number}"


class DocumentQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableDocumentError("Issued documents cannot be changed; issue a credit note instead.")

    def delete(self):
        raise ImmutableDocumentError("Issued documents cannot be deleted; issue a credit note instead.")


class Document(models.Model):
    class Kind(models.TextChoices):
        TAX_INVOICE = "tax_invoice", "Tax invoice"
        RECEIPT = "receipt", "Receipt"
        CREDIT_NOTE = "credit_note", "Tax credit note"
        STATEMENT = "statement", "Statement"
        USAGE_INVOICE = "usage_invoice", "Tax invoice (agent usage)"

    # One numbering series per kind: INV-2026-000001, RCT-..., CN-..., ST-..., UI-...
    SERIES = {
        Kind.TAX_INVOICE: "INV", Kind.RECEIPT: "RCT", Kind.CREDIT_NOTE: "CN",
        Kind.STATEMENT: "ST", Kind.USAGE_INVOICE: "UI",
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    number = models.PositiveIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="documents")
    issued_at = models.DateTimeField()
    supplied_at = models.DateField("date of supply", null=True, blank=True)
    topup = models.ForeignKey(
        "wallet.TopUp", on_delete=models.PROTECT, null=True, blank=True, related_name="documents"
    )
    card_refund = models.ForeignKey(
        "wallet.CardRefund", on_delete=models.PROTECT, null=True, blank=True, related_name="documents"
    )
    dispute_ref = models.CharField(
        "dispute", max_length=255, blank=True, help_text="Stripe dispute id a credit note is for."
    )
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections",
        help_text="The invoice or receipt a credit note corrects.",
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="Last day of the period, included.")
    seller = models.JSONField(help_text="The seller's details as printed.")
    buyer = models.JSONField(help_text="The customer's billing details when the document was issued.")
    currency = models.CharField(max_length=3)
    vat_rate = models.DecimalField("VAT rate (%)", max_digits=5, decimal_places=2)
    prices = models.CharField(max_length=10, help_text="inclusive or exclusive of VAT.")
    lines = models.JSONField(default=list)
    net_total = models.DecimalField(max_digits=12, decimal_places=2)
    tax_total = models.DecimalField(max_digits=12, decimal_places=2)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    data = models.JSONField(default=dict, blank=True, help_text="Statement figures.")

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["user", "-issued_at"], name="document_user_issued_idx")]
        constraints = [
            models.UniqueConstraint(fields=["series", "year", "number"], name="document_unique_number"),
            models.CheckConstraint(condition=Q(number__gt=0), name="document_number_positive"),
            # Compared in whole fils: SQLite keeps NUMERIC as REAL, where a sum of two amounts can
            # miss the total by 1e-14 (PostgreSQL is exact).
            models.CheckConstraint(
                condition=Exact(
                    Round((models.F("total") - models.F("net_total") - models.F("tax_total")) * 100), 0
                ),
                name="document_total_is_net_plus_tax",
            ),
            # One invoice or receipt per top-up, one credit note per refund or dispute, one
            # statement (and usage invoice) per account and month: a task run twice issues nothing.
            models.UniqueConstraint(
                fields=["topup"], condition=Q(kind__in=["tax_invoice", "receipt"]),
                name="document_one_invoice_per_topup",
            ),
            # A refund's credit note, and (if Stripe later fails the refund and the money comes
            # back to the wallet) the invoice or receipt that corrects that credit note: one of each.
            models.UniqueConstraint(
                fields=["card_refund", "kind"], condition=Q(card_refund__isnull=False),
                name="document_one_per_card_refund",
            ),
            models.UniqueConstraint(
                fields=["dispute_ref"], condition=~Q(dispute_ref=""), name="document_one_per_dispute",
            ),
            # A credit note whose money came back (a refund Stripe failed, a dispute won) is corrected
            # by one invoice or receipt, never two.
            models.UniqueConstraint(
                fields=["corrects", "kind"], condition=Q(kind__in=["tax_invoice", "receipt"]),
                name="document_one_correction_per_kind",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "period_start"], condition=Q(period_start__isnull=False),
                name="document_one_per_account_period",
            ),
            models.CheckConstraint(
                condition=~Q(kind="credit_note") | Q(corrects__isnull=False),
                name="document_credit_note_references_invoice",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.display_number}"

    @property
    def display_number(self) -> str:
        return f"{self.series}-{self.year}-{self.number:06d}"

    @property
    def filename(self) -> str:
        return f"netcop-{self.display_number}.pdf"

    @property
    def is_tax_invoice(self) -> bool:
        return self.kind in (self.Kind.TAX_INVOICE, self.Kind.USAGE_INVOICE)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableDocumentError("Issued documents cannot be changed; issue a credit note instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableDocumentError("Issued documents cannot be deleted; issue a credit note instead.")
