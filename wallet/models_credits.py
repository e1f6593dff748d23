"""Credit lots (issue 23): where each part of a balance came from, what is left of it, when it expires.

`User.wallet_balance` stays the one total the ledger writes; it always equals the sum of the user's
lots' `remaining` (check_ledger checks it). Every ledger row written since lots exist has allocations
saying which lots it filled (a credit) or drew from (a debit, an expiry), and how much of each.
Written only by wallet.services.ledger (under the user's row lock), like the ledger itself.
Foreign keys name the other models by string, so this module imports nothing from wallet.models.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .money import format_money


class LotKind(models.TextChoices):
    # Paid money came from a card (or a staff correction of paid money): it never expires and is the
    # only kind a refund to the card or a dispute may take. Promotional credit was given, not paid.
    PAID = "paid", "Paid"
    PROMOTIONAL = "promotional", "Promotional"


class LotSource(models.TextChoices):
    OPENING = "opening_balance", "Balance before credit lots"
    TOP_UP = "top_up", "Card top-up"
    ADJUSTMENT = "adjustment", "Staff adjustment"
    GRANT = "grant", "Grant"
    PROMO_CODE = "promo_code", "Promo code"
    DISPUTE_REINSTATEMENT = "dispute_reinstatement", "Dispute won"
    # A refund of a debit whose lots are unknown (drawn before lots existed): a new paid lot.
    RETURN = "return", "Returned payment"


class CreditLot(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_lots")
    kind = models.CharField(max_length=12, choices=LotKind.choices)
    source = models.CharField(max_length=24, choices=LotSource.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="AED credited into the lot.")
    remaining = models.DecimalField(max_digits=12, decimal_places=2, help_text="AED still in the lot.")
    expires_at = models.DateTimeField(null=True, blank=True)
    topup = models.ForeignKey(
        "wallet.TopUp", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_lots"
    )
    promo_code = models.ForeignKey(
        "wallet.PromoCode", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_lots"
    )
    credit_transaction = models.OneToOneField(
        "wallet.WalletTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="created_lot",
        help_text="The ledger row that created this lot (none for an opening balance).",
    )
    created_at = models.DateTimeField()
    expiry_warned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the 7-day expiry warning was queued (once per lot)."
    )

    class Meta:
        verbose_name = "credit lot"
        ordering = ["created_at", "id"]
        indexes = [
            # The spending order's scan: a user's lots with something left.
            models.Index(
                fields=["user", "expires_at", "created_at"],
                condition=Q(remaining__gt=0),
                name="creditlot_open_idx",
            ),
            # The expiry chore's scan: lots past their expiry with something left.
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="creditlot_expiring_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditlot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="creditlot_remaining_in_range",
            ),
            models.CheckConstraint(condition=Q(kind__in=LotKind.values), name="creditlot_kind_valid"),
            # Paid money never expires; a card top-up's lot is always paid.
            models.CheckConstraint(
                condition=~Q(kind=LotKind.PAID) | Q(expires_at__isnull=True),
                name="creditlot_paid_never_expires",
            ),
            models.CheckConstraint(
                condition=Q(topup__isnull=True) | Q(kind=LotKind.PAID), name="creditlot_topup_lot_is_paid"
            ),
        ]

    def __str__(self):
        left = f"{format_money(self.remaining)} of {format_money(self.amount)}"
        return f"{self.get_kind_display()} {self.get_source_display()}: {left}"


class LotAllocation(models.Model):
    """How much of one ledger row went into (credit) or out of (debit, expiry) one lot."""

    transaction = models.ForeignKey(
        "wallet.WalletTransaction", on_delete=models.PROTECT, related_name="lot_allocations",
        # The unique (transaction, lot) index serves every look-up by transaction: one index fewer
        # to maintain on the debit's hot path.
        db_index=False,
    )
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="AED; the row's sign says the way."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lotallocation_amount_positive"),
            models.UniqueConstraint(fields=["transaction", "lot"], name="lotallocation_one_per_row_and_lot"),
        ]

    def __str__(self):
        return format_money(self.amount)


class PromoCode(models.Model):
    """A code people redeem on their wallet page for promotional credit (issue 23)."""

    code = models.CharField(
        max_length=40, unique=True, help_text="Matched case-insensitively (stored upper-case)."
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="AED each redemption gives.")
    redeemable_until = models.DateTimeField(null=True, blank=True, help_text="The code's own expiry.")
    credit_valid_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="The credit expires this many days after redemption (empty: never)."
    )
    max_redemptions = models.PositiveIntegerField(help_text="Total redemptions across all accounts.")
    redemptions = models.PositiveIntegerField(default=0)
    new_accounts_only = models.BooleanField(
        default=False, help_text="Only accounts with no top-up yet may redeem it."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="promocode_amount_positive"),
            models.CheckConstraint(
                condition=Q(redemptions__lte=F("max_redemptions")), name="promocode_redemptions_within_max"
            ),
        ]

    def __str__(self):
        return self.code


class PromoRedemption(models.Model):
    """One account's redemption of one code: unique, so a code is redeemed once per account."""

    code = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemption_rows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promo_redemptions"
    )
    lot = models.OneToOneField(CreditLot, on_delete=models.PROTECT, related_name="redemption")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "user"], name="promoredemption_once_per_account"),
        ]

    def __str__(self):
        return f"{self.code_id} by {self.user_id}"
