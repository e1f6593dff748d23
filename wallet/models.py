"""The ledger and the records of card payments. Rows here are written by wallet.services only."""

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Q

from .money import format_money, format_signed_money


class AppendOnlyError(Exception):
    """Raised when code tries to edit or delete a ledger row."""


class LedgerQuerySet(models.QuerySet):
    """Bulk update and delete are refused: the ledger is append-only."""

    def update(self, **kwargs):
        raise AppendOnlyError("Ledger rows are append-only; write a correcting row instead.")

    def delete(self):
        raise AppendOnlyError("Ledger rows are append-only; write a correcting row instead.")


class TxType(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    AGENT_USAGE = "agent_usage", "Agent usage"
    # Money back into the wallet for an agent run that failed (a credit).
    AGENT_REFUND = "agent_refund", "Agent refund"
    # Money out of the wallet back to the card (a debit), and its reversal when Stripe refuses it.
    CARD_REFUND = "card_refund", "Refund to card"
    CARD_REFUND_REVERSAL = "card_refund_reversal", "Refund reversed"
    ADJUSTMENT = "adjustment", "Adjustment"
    # Rows written before the three refund types above existed. Never written any more; ledger rows
    # keep their type, and `ledger_kind` tells which of the three such a row was.
    REFUND = "refund", "Refund (older entry)"
    # Issue 20: taken back by the bank; given back when won; owed part repaid by a later top-up.
    DISPUTE = "dispute", "Card payment disputed"
    DISPUTE_REINSTATED = "dispute_reinstated", "Dispute won"
    OWED_REPAYMENT = "owed_repayment", "Repayment of owed amount"
    # Issue 23: promotional credit given by staff or a promo code (credits), and what expired (debit).
    GRANT = "grant", "Promotional grant"
    PROMO_CODE = "promo_code", "Promo code"
    EXPIRY = "expiry", "Credit expired"


# What people may filter the history by: every type still written (old refund rows are matched by
# `kind_filter`, so the legacy type is not offered on its own).
FILTER_TYPES = [
    (value, label) for value, label in TxType.choices if value != TxType.REFUND
]
_REVERSAL_PREFIX = "Refund reversed"


def ledger_kind(type: str, amount, description: str) -> str:
    """The row's type as shown to people: an old "refund" row is read as the refund it was.

    Before the split, a debit of type refund was a refund to the card, a credit whose description
    starts "Refund reversed" its reversal, and any other credit an agent-run refund.
    """
    if type != TxType.REFUND:
        return type
    if amount < 0:
        return TxType.CARD_REFUND
    if (description or "").startswith(_REVERSAL_PREFIX):
        return TxType.CARD_REFUND_REVERSAL
    return TxType.AGENT_REFUND


def kind_filter(kind: str) -> Q:
    """Rows whose ledger_kind is `kind`, old refund rows included."""
    legacy = Q(type=TxType.REFUND)
    reversal = Q(description__startswith=_REVERSAL_PREFIX)
    if kind == TxType.CARD_REFUND:
        return Q(type=kind) | (legacy & Q(amount__lt=0))
    if kind == TxType.CARD_REFUND_REVERSAL:
        return Q(type=kind) | (legacy & Q(amount__gt=0) & reversal)
    if kind == TxType.AGENT_REFUND:
        return Q(type=kind) | (legacy & Q(amount__gt=0) & ~reversal)
    return Q(type=kind)


class WalletTransaction(models.Model):
    """One immutable ledger row: a signed change to one user's balance and the balance after it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="wallet_transactions",
        # The (user, -created_at, -id) index below serves every lookup by user: one index fewer
        # to maintain on each ledger insert.
        db_index=False,
    )
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="AED; credits are positive, debits negative."
    )
    type = models.CharField(max_length=32, choices=TxType.choices)
    description = models.CharField(max_length=255, blank=True)
    balance_after = models.DecimalField(max_digits=12, decimal_places=2)
    stripe_payment_intent_id = models.CharField(
        "Stripe PaymentIntent", max_length=255, blank=True, default=""
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Staff member who made an adjustment or refund.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    # --- issue 21: the API key that caused this row (None: a page, a webhook, staff). PROTECT:
    # ledger rows are never edited, so a used key is revoked, never deleted.
    api_key = models.ForeignKey(
        "authentication.ApiKey",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="The API key that made this change, if any.",
    )

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name = "ledger entry"
        verbose_name_plural = "ledger"
        ordering = ["-created_at"]
        # The history's order exactly (the id breaks ties): pages and balance probes are index scans.
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="wallettx_user_created_id_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallettx_amount_non_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="wallettx_balance_after_non_negative"
            ),
            # One credit per PaymentIntent, whichever path (browser, webhook, sweep) gets there.
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=Q(type="top_up") & ~Q(stripe_payment_intent_id=""),
                name="wallettx_one_credit_per_intent",
            ),
        ]

    def __str__(self):
        # No user here: str() must not cost a query (admin titles, logs); the page shows the user.
        return f"{self.kind_label} {format_signed_money(self.amount)}"

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    @property
    def kind(self) -> str:
        """The type as shown to people (old "refund" rows read as the refund they were)."""
        return ledger_kind(self.type, self.amount, self.description)

    @property
    def kind_label(self) -> str:
        return TxType(self.kind).label

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Ledger rows are append-only; write a correcting row instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ledger rows are append-only; write a correcting row instead.")


class TopUp(models.Model):
    """One card payment attempt: our record of what we asked Stripe to collect, and for whom."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REQUIRES_ACTION = "requires_action", "Awaiting authentication"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        # Collected by Stripe but more than the wallet's column can hold: refunded to the card instead
        # of credited (a race between top-ups past the start-time check). Final, never revisited.
        RETURNED = "returned", "Returned to card"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.RETURNED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(
        max_length=64, help_text="Client-supplied key; the same key from the same user is one top-up."
    )
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=255, blank=True)
    credit_transaction = models.OneToOneField(
        WalletTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="topup"
    )
    is_automatic = models.BooleanField(
        "automatic", default=False, help_text="Charged off-session on a saved card by auto-recharge."
    )
    card_label = models.CharField(
        "card", max_length=60, blank=True,
        help_text="The saved card an automatic top-up charged, e.g. Visa ..4444.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "top-up"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="topup_user_created_idx"),
            models.Index(fields=["status", "created_at"], name="topup_status_created_idx"),
            # The history page's "card payments that did not add money": a user's newest few, read
            # from this small index rather than by filtering out every succeeded top-up.
            models.Index(
                fields=["user", "-created_at"],
                condition=~Q(status="succeeded"),
                name="topup_user_unsettled_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="topup_unique_key_per_user"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(credit_transaction__isnull=False),
                name="topup_succeeded_has_credit",
            ),
            # At most one automatic recharge per user in flight: twenty debits crossing the
            # threshold together enqueue twenty tasks, and the database lets exactly one charge.
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_automatic=True, status__in=["pending", "requires_action"]),
                name="topup_one_auto_recharge_in_flight",
            ),
        ]

    def __str__(self):
        return f"Top-up {format_money(self.amount, self.currency)} ({self.get_status_display().lower()})"

    @property
    def automatic_label(self) -> str:
        """"Automatic top-up of 50.00 AED on Visa ..4444": how an automatic top-up names itself."""
        text = f"Automatic top-up of {format_money(self.amount, self.currency)}"
        return f"{text} on {self.card_label}" if self.card_label else text

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class StripeEvent(models.Model):
    """A webhook event, stored once by its Stripe id (deduplication)."""

    id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "Stripe event"
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.type} {self.id}"


class CardRefund(models.Model):
    """A refund of (part of) a settled top-up back to the card, asked for by ops."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class CustomerReason(models.TextChoices):
        # The labels are what the customer reads (history, email): plain words, no internals.
        REQUESTED = "requested_by_customer", "At your request"
        DUPLICATE = "duplicate", "Duplicate payment"
        IN_ERROR = "charged_in_error", "Payment made in error"
        SERVICE_ISSUE = "service_issue", "Service problem"
        ACCOUNT_CLOSED = "account_closed", "Account closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topup = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    customer_reason = models.CharField(
        "reason shown to the customer",
        max_length=32,
        choices=CustomerReason.choices,
        blank=True,
        help_text="In the customer's history and refund email. Empty for refunds made outside the form.",
    )
    reason = models.CharField(
        "internal note", max_length=255, help_text="For staff only; never shown to the customer."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    # Single-use key of the admin form that asked for this refund: a double submit hits the unique
    # constraint instead of debiting twice. Null for refunds not made through that form.
    request_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    debit_transaction = models.OneToOneField(
        WalletTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="card_refund"
    )
    reversal_transaction = models.OneToOneField(
        WalletTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_card_refund",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "card refund"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="cardrefund_amount_positive"),
        ]

    def __str__(self):
        return f"Refund to card {format_money(self.amount)} ({self.get_status_display().lower()})"


class ChoreSlot(models.Model):
    """A periodic chore's claim on one time slot. The scheduler on every host tries to insert the
    slot; the unique constraint lets exactly one of them enqueue the chore for it."""

    chore = models.CharField(max_length=60)
    slot_start = models.DateTimeField()
    claimed_by = models.CharField(max_length=120, blank=True, help_text="host:pid of the scheduler.")
    claimed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "scheduled chore slot"
        ordering = ["-slot_start"]
        constraints = [
            models.UniqueConstraint(fields=["chore", "slot_start"], name="choreslot_unique_chore_slot"),
        ]

    def __str__(self):
        return f"{self.chore} @ {self.slot_start:%Y-%m-%d %H:%M:%S}"


class SentEmail(models.Model):
    """An email a task has sent, by key (e.g. "receipt:<topup id>"): a task delivered twice, or
    retried after the send went through, does not send it again.

    The row is written *before* the send, as a claim ("sending"): the unique key lets one delivery
    claim it, so a concurrent second delivery sends nothing. The claimer marks it "sent", or deletes
    its claim when the send failed (so a retry can claim it again)."""

    # --- issue 20 item 7: the send claim -------------------------------------------------------
    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    key = models.CharField(max_length=120)
    # Rows from before the claim were all sent.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    # When the claim was taken; identifies the claim (released or marked only by its owner).
    claimed_at = models.DateTimeField(null=True, blank=True)
    # --- end issue 20 item 7 -------------------------------------------------------------------
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key"], name="sentemail_unique_key"),
            # issue 20 item 7: a claim in flight names when it was taken (how it goes stale).
            models.CheckConstraint(
                condition=Q(status="sent") | Q(status="sending", claimed_at__isnull=False),
                name="sentemail_sending_has_claim",
            ),
        ]

    def __str__(self):
        return self.key


class BillingSettings(models.Model):
    """A user's saved-card and spending settings: auto-recharge, low-balance alert, monthly limit.

    Written by wallet.services.billing (and the settings page's form); the flags below are changed
    under the user's row lock, in the transaction of the balance change that moves them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="billing"
    )
    stripe_customer_id = models.CharField(
        "Stripe customer", max_length=255, null=True, blank=True, unique=True,
        help_text="Created the first time the customer saves a card.",
    )
    auto_recharge_payment_method = models.CharField(
        "card for automatic top-ups", max_length=255, blank=True,
        help_text="Stripe PaymentMethod id of the saved card charged by auto-recharge.",
    )
    auto_recharge_enabled = models.BooleanField(default=False)
    auto_recharge_threshold = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="AED. Recharge when the balance falls below this.",
    )
    auto_recharge_amount = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="AED charged per recharge."
    )
    auto_recharge_monthly_limit = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="AED. Most money auto-recharged per calendar month; blank = no cap.",
    )
    auto_recharge_failures = models.PositiveSmallIntegerField(
        default=0, help_text="Consecutive failed automatic top-ups (3 pause auto-recharge)."
    )
    auto_recharge_paused_at = models.DateTimeField(
        null=True, blank=True, help_text="Paused after repeated failures; saving the settings re-arms it."
    )
    auto_recharge_retry_after = models.DateTimeField(
        null=True, blank=True, help_text="No automatic attempt before this (back-off after a failure)."
    )
    auto_recharge_notice = models.CharField(
        max_length=255, blank=True, help_text="Why the last automatic top-up failed or could not be made."
    )
    low_balance_alert = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="AED. Email once when the balance falls below this; blank = off.",
    )
    low_balance_alerted = models.BooleanField(
        default=False, help_text="Alert sent for the current crossing; cleared when the balance is back."
    )
    monthly_spend_limit = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="AED. Most spent on agents per calendar month; blank = no limit.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing settings"
        verbose_name_plural = "billing settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_recharge_amount__isnull=True) | Q(auto_recharge_amount__gt=0),
                name="billing_recharge_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(auto_recharge_threshold__isnull=True) | Q(auto_recharge_threshold__gte=0),
                name="billing_threshold_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(auto_recharge_enabled=True)
                | (Q(auto_recharge_amount__isnull=False) & Q(auto_recharge_threshold__isnull=False)),
                name="billing_enabled_has_amount_threshold",
            ),
        ]

    def __str__(self):
        return f"Billing settings of {self.user.email}"

    @property
    def auto_recharge_active(self) -> bool:
        return self.auto_recharge_enabled and self.auto_recharge_paused_at is None

    @property
    def watches_balance(self) -> bool:
        """Whether a balance change must consult these settings (an alert, or an active recharge)."""
        return self.low_balance_alert is not None or self.auto_recharge_active

    def save(self, *args, **kwargs):
        # The ledger reads this flag in its balance UPDATE instead of reading these settings on
        # every change (issue 19). Written with every save, in its transaction, so the two never
        # disagree; code that changes the alert or the recharge switch with .update() must do the
        # same. The user row first: the lock order everywhere is the user, then what hangs off it.
        watched = self.watches_balance
        with transaction.atomic():
            get_user_model().objects.filter(pk=self.user_id).exclude(wallet_watched=watched).update(
                wallet_watched=watched
            )
            super().save(*args, **kwargs)


# --- issue 20: disputes, early fraud warnings, owed money, holds (own module, re-exported) --------
# --- issue 23: credit lots, allocations, promo codes (own module, re-exported) --------------------
from .models_credits import (  # noqa: E402, F401
    CreditLot,
    LotAllocation,
    LotKind,
    LotSource,
    PromoCode,
    PromoRedemption,
)
from .models_disputes import (  # noqa: E402, F401
    AccountHoldEvent,
    Dispute,
    EarlyFraudWarning,
    OwedBalance,
    PaymentOrigin,
)
