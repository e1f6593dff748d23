"""The custom User: email login, a display name, and the wallet balance (owned by wallet.services)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from .validators import default_display_name, validate_display_name


class UserManager(DjangoUserManager):
    """Creates users keyed by a normalised (lower-case) email address."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        email = self.normalize_email(email).lower()
        extra_fields.setdefault("username", default_display_name(email))
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        # Log-in is case-insensitive on the email address.
        return self.get(email__iexact=username)


# Written only by services with .update(), never by User.save() (see save()).
SERVICE_OWNED_FIELDS = ("wallet_balance", "wallet_watched", "held_at", "hold_reason", "email_verified_at")


class User(AbstractUser):
    """A NetCop Wallet account. `wallet_balance` changes only through wallet.services."""

    # The column stays 150 wide; the validator holds names to DISPLAY_NAME_MAX_LENGTH.
    username = models.CharField("display name", max_length=150, validators=[validate_display_name])
    email = models.EmailField("email address", unique=True)
    wallet_balance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        editable=False,
        help_text="AED. Changes only through the ledger (wallet.services).",
    )
    # Denormalised from wallet.BillingSettings (kept by its save()): True while a low-balance alert or
    # an active auto-recharge is set. The ledger reads it in its balance UPDATE (RETURNING), so a
    # change to an unwatched balance costs no query for what follows it (issue 19).
    wallet_watched = models.BooleanField(
        "balance watched",
        default=False,
        editable=False,
        help_text="Has a low-balance alert or auto-recharge (maintained by the wallet's billing settings).",
    )
    # An account on hold (a dispute, an early fraud warning, or staff review; issue 20) can log in and
    # read its history but moves no money: no top-up, agent run, auto-recharge or refund. Set and
    # cleared only by wallet.services (with an audit row); the reason is shown to the customer.
    held_at = models.DateTimeField("on hold since", null=True, blank=True, editable=False)
    hold_reason = models.CharField("reason for the hold", max_length=300, blank=True, editable=False)
    # Set when the owner opened the signed link we emailed (authentication.verification); top-ups
    # wait for it while TOPUP_REQUIRE_VERIFIED_EMAIL is on (issue 20, card testing).
    email_verified_at = models.DateTimeField("email confirmed", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = UserManager()

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wallet_balance__gte=0), name="user_wallet_balance_non_negative"
            ),
            # The column's own bound (NUMERIC(12,2)): SQLite would store a larger value, which no
            # page could then read back. PostgreSQL refuses it anyway; the name says why.
            models.CheckConstraint(
                condition=models.Q(wallet_balance__lte=Decimal("9999999999.99")),
                name="user_wallet_balance_within_column",
            ),
            # A hold always says why (the customer's banner shows the reason).
            models.CheckConstraint(
                condition=models.Q(held_at__isnull=True) | ~models.Q(hold_reason=""),
                name="user_hold_has_reason",
            ),
        ]

    def __str__(self):
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_on_hold(self) -> bool:
        return self.held_at is not None

    def save(self, *args, **kwargs):
        if self.email:
            self.email = self.email.strip().lower()
        # The balance, its watch flag and the hold are never written by a model save (the ledger, the
        # billing settings and the hold service own them): a stale instance saved later must not roll
        # them back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.attname not in SERVICE_OWNED_FIELDS
            ]
        super().save(*args, **kwargs)

    # The seed's API, kept as thin doors into the ledger services. The ledger lives in the wallet app,
    # above this one, so the wallet installs the door when it starts (WalletConfig.ready() calls
    # install_ledger_door) and accounts import nothing above them.
    def has_sufficient_balance(self, amount) -> bool:
        """True if the stored balance covers `amount` (a Decimal or a decimal string)."""
        self.refresh_from_db(fields=["wallet_balance"])
        return ledger_door().covers(balance=self.wallet_balance, amount=amount)

    def add_balance(self, amount, description: str = "Balance added through User.add_balance") -> bool:
        """Credit the wallet: a ledger adjustment described by `description` (never left blank: the
        ledger says where every change came from). Returns True; raises InvalidAmount or
        BalanceLimitExceeded like wallet.services.credit."""
        try:
            return ledger_door().add(user=self, amount=amount, description=description)
        finally:
            self.refresh_from_db(fields=["wallet_balance"])

    def deduct_balance(self, amount, description: str = "Agent usage") -> bool:
        """Debit the wallet for agent usage (wallet.services.debit); False, and nothing written, when
        the balance is short."""
        try:
            return ledger_door().deduct(user=self, amount=amount, description=description)
        finally:
            self.refresh_from_db(fields=["wallet_balance"])


class LedgerDoor(Protocol):
    """What the User's balance methods need of the ledger (wallet.services.doors provides it)."""

    def covers(self, *, balance: Decimal, amount) -> bool: ...

    def add(self, *, user: User, amount, description: str) -> bool: ...

    def deduct(self, *, user: User, amount, description: str) -> bool: ...


_ledger_door: LedgerDoor | None = None


def install_ledger_door(door: LedgerDoor) -> None:
    """Called by the wallet app when it starts: the ledger the User's balance methods go through."""
    global _ledger_door
    _ledger_door = door


def ledger_door() -> LedgerDoor:
    if _ledger_door is None:
        raise ImproperlyConfigured("User balance methods need the wallet app in INSTALLED_APPS.")
    return _ledger_door


# --- API keys (issue 21) -------------------------------------------------------------------------
# Keys are account credentials, so they live here, below the wallet and the agents: ledger rows and
# agent runs point at the key that caused them without an upward import. Issued, checked and revoked
# by authentication.api_keys; only a keyed hash of the secret is stored.


class ApiKeyScope(models.TextChoices):
    AGENTS_RUN = "agents:run", "Run agents (spends money)"
    WALLET_READ = "wallet:read", "Read the balance and limits"
    HISTORY_READ = "history:read", "Read transactions and runs"
    DOCUMENTS_READ = "documents:read", "List and download invoices, credit notes and statements"
    CREDITS_REDEEM = "credits:redeem", "Redeem promo codes (adds promotional credit)"


class ApiKey(models.Model):
    """A credential for /api/v1/: its secret is shown once and stored as HMAC-SHA256 only.

    Never deleted once used (ledger rows and runs keep pointing at it, on_delete PROTECT): revoked."""

    user = models.ForeignKey(
        "authentication.User", on_delete=models.PROTECT, related_name="api_keys", db_index=False
    )
    name = models.CharField(max_length=100, help_text="The owner's label, e.g. “mail gateway”.")
    # What the owner and a secret scanner recognise: "ncw_live_" and the secret's first characters.
    prefix = models.CharField(max_length=24, help_text="The start of the key, shown in lists.")
    secret_hash = models.CharField(max_length=64, editable=False, help_text="HMAC-SHA256 of the key.")
    scopes = models.JSONField(default=list, help_text="What the key may do (ApiKeyScope values).")
    expires_at = models.DateTimeField(null=True, blank=True)
    monthly_cap = models.DecimalField(
        "monthly spend cap",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="AED of agent runs this key may spend per calendar month; empty: no cap of its own.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apikey_user_created_idx")]
        constraints = [
            models.UniqueConstraint(fields=["secret_hash"], name="apikey_unique_secret_hash"),
            # A cap of zero would be a revoked key that still looks usable; no cap is NULL.
            models.CheckConstraint(
                condition=models.Q(monthly_cap__isnull=True) | models.Q(monthly_cap__gt=0),
                name="apikey_cap_positive",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
