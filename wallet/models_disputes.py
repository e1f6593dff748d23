"""Money that comes back through the bank (issue 20): disputes, early fraud warnings, what an account
owes, and the audit trail of account holds. Rows here are written by wallet.services only.

Kept apart from wallet.models (which re-exports them) so neither module outgrows the house limit;
foreign keys name the other models by string, so this module imports nothing from wallet.models.
"""

import uuid
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.db.models.lookups import Exact

from .money import format_money

__all__ = ["AccountHoldEvent", "Dispute", "EarlyFraudWarning", "OwedBalance", "PaymentOrigin"]


class OwedBalance(models.Model):
    """What an account owes after a dispute took more than its balance held (issue 20).

    The balance itself never goes below zero: the shortfall is recorded here instead, and the
    ledger repays it first from the account's next top-up credits (an "owed repayment" row each).
    Written only by wallet.services.disputes, under the user's row lock.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="owed_balance"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"),
                                 help_text="AED still owed; repaid first from the next top-ups.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "owed balance"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="owedbalance_amount_non_negative"),
        ]

    def __str__(self):
        return f"Owes {format_money(self.amount)}"


class Dispute(models.Model):
    """A chargeback on one of our top-ups, as Stripe reports it, and what it did to the wallet.

    Applied once whichever path sees it first (webhook or reconcile): the Stripe id is unique, and
    the withdrawal and the reinstatement are each recorded once, under the user's row lock.
    """

    class Status(models.TextChoices):
        # Stripe's dispute statuses. warning_* are inquiries: no money moves.
        WARNING_NEEDS_RESPONSE = "warning_needs_response", "Inquiry: needs response"
        WARNING_UNDER_REVIEW = "warning_under_review", "Inquiry: under review"
        WARNING_CLOSED = "warning_closed", "Inquiry: closed"
        NEEDS_RESPONSE = "needs_response", "Needs response"
        UNDER_REVIEW = "under_review", "Under review"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        UNKNOWN = "unknown", "Unknown"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stripe_dispute_id = models.CharField("Stripe dispute", max_length=255)
    stripe_charge_id = models.CharField("Stripe charge", max_length=255, blank=True)
    topup = models.ForeignKey("wallet.TopUp", on_delete=models.PROTECT, related_name="disputes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes")
    disputed_amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="AED the bank took back, as Stripe reports it."
    )
    amount = models.DecimalField(
        "amount applied", max_digits=12, decimal_places=2,
        help_text="AED that left the wallet: the disputed amount, at most what the top-up credited "
        "minus what was already refunded to the card.",
    )
    taken_amount = models.DecimalField(
        "taken from the balance", max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    owed_amount = models.DecimalField(
        "recorded as owed", max_digits=12, decimal_places=2, default=Decimal("0.00"),
        help_text="The part the balance could not cover when the dispute was applied.",
    )
    status = models.CharField(max_length=32, choices=Status.choices)
    reason = models.CharField(max_length=64, blank=True, help_text="Stripe's reason, e.g. fraudulent.")
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"),
        help_text="AED given back when the dispute was won (credited, or cancelled from what is owed).",
    )
    debit_transaction = models.OneToOneField(
        "wallet.WalletTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="dispute"
    )
    reinstatement_transaction = models.OneToOneField(
        "wallet.WalletTransaction", on_delete=models.PROTECT, null=True, blank=True,
        related_name="reinstated_dispute",
    )
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    evidence_submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "dispute"
        ordering = ["-created_at"]
        constraints = [
            # One row per Stripe dispute, whichever path (webhook, reconcile) records it first.
            models.UniqueConstraint(fields=["stripe_dispute_id"], name="dispute_one_per_stripe_dispute"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="dispute_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(taken_amount__gte=0) & Q(owed_amount__gte=0), name="dispute_parts_non_negative"
            ),
            # What left the wallet is exactly what was taken plus what was recorded as owed. Compared
            # in whole fils: SQLite keeps NUMERIC as REAL, where 7.59 + 2.63 != 10.22 (PostgreSQL is exact).
            models.CheckConstraint(
                condition=cast(
                    Q,
                    Q(withdrawn_at__isnull=True)
                    | Exact(Round((F("amount") - F("taken_amount") - F("owed_amount")) * 100), 0),
                ),
                name="dispute_parts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(amount__lte=F("disputed_amount")), name="dispute_within_disputed"
            ),
            # Given back at most once, only after it was taken, and never more than was taken.
            models.CheckConstraint(
                condition=Q(reinstated_at__isnull=True) | Q(withdrawn_at__isnull=False),
                name="dispute_reinstated_after_withdrawn",
            ),
            models.CheckConstraint(
                condition=Q(reinstated_amount__gte=0) & Q(reinstated_amount__lte=F("amount")),
                name="dispute_reinstated_within_amount",
            ),
        ]

    def __str__(self):
        return f"Dispute {format_money(self.disputed_amount)} ({self.get_status_display().lower()})"


class EarlyFraudWarning(models.Model):
    """A Radar early fraud warning on one of our top-ups, and what we did about it (once)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stripe_warning_id = models.CharField("Stripe early fraud warning", max_length=255)
    topup = models.ForeignKey("wallet.TopUp", on_delete=models.PROTECT, related_name="fraud_warnings")
    fraud_type = models.CharField(max_length=64, blank=True)
    actionable = models.BooleanField(default=False)
    refund = models.ForeignKey(
        "wallet.CardRefund", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="The refund to the card of what the wallet still held of this payment.",
    )
    outcome = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "early fraud warning"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["stripe_warning_id"], name="efw_one_per_stripe_warning"),
        ]

    def __str__(self):
        return f"Early fraud warning {self.stripe_warning_id}"


class PaymentOrigin(models.Model):
    """Where a customer's top-up was asked for (issue 20): dispute evidence asks for the payment's IP.
    Written with the TopUp, in its transaction; kept apart so the TopUp table stays as it is."""

    topup = models.OneToOneField(
        "wallet.TopUp", on_delete=models.CASCADE, primary_key=True, related_name="origin"
    )
    client_ip = models.GenericIPAddressField("client IP address", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "payment origin"

    def __str__(self):
        return str(self.client_ip or "unknown address")


class AccountHoldEvent(models.Model):
    """The audit trail of holds: who held or released an account, when and why (append-only)."""

    class Action(models.TextChoices):
        HOLD = "hold", "Put on hold"
        RELEASE = "release", "Released"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hold_events")
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=300)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Empty when the system held the account (a dispute or an early fraud warning).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "account hold"
        ordering = ["-created_at"]
        permissions = [("hold_account", "Can put accounts on hold and release them")]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="accounthold_has_reason"),
        ]

    def __str__(self):
        return f"{self.get_action_display()}: {self.reason}"
