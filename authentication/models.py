"""The custom User: email login, a display name, and the wallet balance (owned by wallet.services)."""

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
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
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        if self.email:
            self.email = self.email.strip().lower()
        # The balance is never written by a model save (the ledger owns it): a stale instance
        # saved after a top-up must not roll the balance back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.attname != "wallet_balance"
            ]
        super().save(*args, **kwargs)

    # The seed's API, kept: atomic now, delegating to the ledger services.
    def has_sufficient_balance(self, amount) -> bool:
        """True if the stored balance covers `amount` (a Decimal or a decimal string)."""
        from wallet.services import to_money

        self.refresh_from_db(fields=["wallet_balance"])
        return self.wallet_balance >= to_money(amount)

    def add_balance(self, amount, description: str = "") -> bool:
        """Credit the wallet as an adjustment; returns True on success."""
        from wallet import services

        services.credit(
            user=self, amount=amount, type=services.TxType.ADJUSTMENT, description=description
        )
        self.refresh_from_db(fields=["wallet_balance"])
        return True

    def deduct_balance(self, amount, description: str = "") -> bool:
        """Debit the wallet for agent usage; False (and nothing written) when funds are short."""
        from wallet import services
        from wallet.exceptions import InsufficientBalance

        try:
            services.debit(
                user=self, amount=amount, type=services.TxType.AGENT_USAGE, description=description
            )
            return True
        except InsufficientBalance:
            return False
        finally:
            self.refresh_from_db(fields=["wallet_balance"])
