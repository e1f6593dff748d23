"""The payment gateway's interface: our types, and the backend every implementation provides.

The rest of the app never sees a payment provider's SDK: it speaks these frozen dataclasses and
enums (IntentStatus, RefundStatus) and our exceptions. Amounts cross this boundary as integer minor
units (fils). A backend is chosen in settings (PAYMENTS_BACKEND), the way Django picks an email
backend: wallet.payments.stripe.StripeBackend (real Stripe) or wallet.payments.sandbox.SandboxBackend
(localstripe, offline).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)

MINOR_UNITS = Decimal(100)  # AED is a two-decimal currency: 1 AED = 100 fils.


def to_minor(amount: Decimal) -> int:
    """Decimal AED (already quantized to 0.01) -> integer fils."""
    minor = amount * MINOR_UNITS
    if minor != minor.to_integral_value():
        raise ValueError("amount has more than two decimal places")
    return int(minor)


def from_minor(minor: int) -> Decimal:
    """Integer fils -> Decimal AED with two places."""
    return (Decimal(int(minor)) / MINOR_UNITS).quantize(Decimal("0.01"))


def assert_no_transaction() -> None:
    """Money rule 4: a payment provider is never called inside a database transaction.

    (pytest-django's TestCase wraps each test in atomic blocks flagged _from_testcase: those don't count.)
    """
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("Stripe must not be called inside a database transaction.")


class IntentStatus(StrEnum):
    """Our vocabulary for a PaymentIntent's state (Stripe's lifecycle, plus UNKNOWN).

    Values spell Stripe's documented states; a state Stripe adds later arrives as UNKNOWN, which
    nothing credits and reconciliation leaves waiting.
    """

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # new, or an attempt failed
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure in the page
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"  # the only state in which money was collected
    CANCELED = "canceled"
    UNKNOWN = "unknown"

    @classmethod
    def from_stripe(cls, value: object) -> IntentStatus:
        try:
            return cls(str(value))
        except ValueError:
            logger.warning("unknown PaymentIntent status %r", value)
            return cls.UNKNOWN


class RefundStatus(StrEnum):
    """Our vocabulary for a Refund's state (Stripe's, plus UNKNOWN: treated as still pending)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"

    @classmethod
    def from_stripe(cls, value: object) -> RefundStatus:
        try:
            return cls(str(value))
        except ValueError:
            logger.warning("unknown Refund status %r", value)
            return cls.UNKNOWN


@dataclass(frozen=True)
class Intent:
    """What we need of a PaymentIntent. `client_secret` must never be logged."""

    id: str
    status: IntentStatus
    amount: int
    currency: str
    amount_received: int | None = None
    client_secret: str = field(default="", repr=False)
    metadata: dict[str, str] = field(default_factory=dict)
    last_error_message: str = ""
    next_action_type: str = ""
    # The paying card's last four digits when the answer carried its charge's card (real Stripe's
    # payment_method_details, or the sandbox's expanded payment method); "" when it did not.
    card_last4: str = ""

    @property
    def amount_collected(self) -> int:
        """Minor units actually collected. localstripe omits amount_received: fall back to amount."""
        return self.amount if self.amount_received is None else self.amount_received


@dataclass(frozen=True)
class Refund:
    id: str
    status: RefundStatus
    amount: int


@dataclass(frozen=True)
class Charge:
    """What we need of a Charge: its cumulative refunded total, read from Stripe (never an event body)."""

    id: str
    payment_intent_id: str
    amount_refunded: int
    currency: str


@dataclass(frozen=True)
class Dispute:
    """What we need of a Dispute (issue 20), read from Stripe (never an event body).

    funds_withdrawn / funds_reinstated: whether Stripe took the money back from the business, and
    gave it back (a dispute won). Inquiries (status warning_*) move no money.
    """

    id: str
    charge_id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: str
    reason: str = ""
    evidence_due_by: int | None = None
    funds_withdrawn: bool = False
    funds_reinstated: bool = False
    evidence_submitted: bool = False


@dataclass(frozen=True)
class FraudWarning:
    """A Radar early fraud warning: the card issuer reported the charge as fraud (issue 20)."""

    id: str
    charge_id: str
    payment_intent_id: str
    actionable: bool
    fraud_type: str = ""


@dataclass(frozen=True)
class SavedCard:
    """A card saved on a Stripe Customer (brand, last 4, expiry): all a page may show of it."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def is_expired(self, today: date) -> bool:
        return (self.exp_year, self.exp_month) < (today.year, today.month)


@dataclass(frozen=True)
class BrowserConfig:
    """What the pages need to know of the backend: which Stripe.js to load and what to show."""

    sandbox: bool = False
    # The sandbox's own Stripe.js (localstripe's), and the origins the page's CSP must add for it.
    js_url: str = ""
    csp_origins: tuple[str, ...] = ()
    # (number, what it does): the test cards the top-up page lists in the sandbox.
    test_cards: tuple[tuple[str, str], ...] = ()


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body does not verify."""


class PaymentsBackend(ABC):
    """A payment provider. Every method that talks to it refuses to run inside a transaction.

    finds_lost_intents_by_search: True when the provider can search intents by metadata (real
    Stripe); otherwise reconciliation scans one page of the most recent intents.
    """

    finds_lost_intents_by_search: bool = True

    @abstractmethod
    def create_and_confirm_intent(
        self, *, amount_minor: int, currency: str, payment_method: str, metadata: dict[str, str],
        idempotency_key: str, customer: str = "", save_card: bool = False,
    ) -> Intent: ...

    @abstractmethod
    def retrieve_intent(self, intent_id: str) -> Intent: ...

    @abstractmethod
    def cancel_intent(self, intent_id: str) -> Intent: ...

    @abstractmethod
    def list_recent_intents(self, limit: int = 100) -> list[Intent]: ...

    @abstractmethod
    def search_intents_by_metadata(self, key: str, value: str, *, limit: int = 10) -> list[Intent]: ...

    @abstractmethod
    def create_refund(
        self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict[str, str]
    ) -> Refund: ...

    @abstractmethod
    def retrieve_refund(self, refund_id: str) -> Refund: ...

    @abstractmethod
    def retrieve_charge(self, charge_id: str) -> Charge: ...

    @abstractmethod
    def create_customer(self, *, email: str, user_id: int, idempotency_key: str) -> str: ...

    def prepare_card_for_saving(self, *, customer: str, payment_method: str) -> None:  # noqa: B027
        """Before a payment that saves its card. Real Stripe saves it with the payment itself."""

    def save_card_after_payment(self, *, customer: str, payment_method: str) -> None:  # noqa: B027
        """After a payment that saves its card succeeded. Real Stripe saved it with the payment."""

    def card_fingerprint(self, payment_method: str) -> str:
        """Stripe's fingerprint of the card behind a PaymentMethod, "" where there is none (issue 20:
        declines are capped per card). Reads only; creates nothing at Stripe."""
        return ""

    @abstractmethod
    def attach_payment_method(self, *, payment_method: str, customer: str) -> SavedCard: ...

    @abstractmethod
    def list_saved_cards(self, *, customer: str) -> list[SavedCard]: ...

    @abstractmethod
    def detach_payment_method(self, *, payment_method: str, customer: str = "") -> None: ...

    @abstractmethod
    def charge_saved_card(
        self, *, amount_minor: int, currency: str, customer: str, payment_method: str,
        metadata: dict[str, str], idempotency_key: str,
    ) -> Intent: ...

    @abstractmethod
    def retrieve_dispute(self, dispute_id: str) -> Dispute: ...

    @abstractmethod
    def list_recent_disputes(self, limit: int = 100) -> list[Dispute]: ...

    @abstractmethod
    def submit_dispute_evidence(self, dispute_id: str, *, evidence: dict[str, str]) -> Dispute: ...

    @abstractmethod
    def retrieve_fraud_warning(self, warning_id: str) -> FraudWarning: ...

    @abstractmethod
    def list_recent_fraud_warnings(self, limit: int = 100) -> list[FraudWarning]: ...

    @abstractmethod
    def construct_event(self, payload: bytes, signature_header: str, secret: str) -> dict[str, Any]: ...

    def browser_config(self) -> BrowserConfig:
        return BrowserConfig()
