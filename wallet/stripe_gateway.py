"""
The only module that imports stripe: a thin, typed facade over stripe.StripeClient.

It turns Stripe objects into small frozen dataclasses and Stripe errors into our exceptions, so the
rest of the code never sees the SDK. Amounts cross this boundary as integer minor units (fils).
Nothing here touches the database: callers must not hold a transaction or a row lock across a call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import stripe
from django.conf import settings
from django.db import connection

from .exceptions import PaymentDeclined, PaymentProviderError, PaymentProviderUnavailable

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
    """Money rule 4: a Stripe call never happens inside a database transaction.

    (pytest-django's TestCase wraps each test in atomic blocks flagged _from_testcase: those don't count.)
    """
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("Stripe must not be called inside a database transaction.")


@dataclass(frozen=True)
class Intent:
    """What we need of a PaymentIntent. `client_secret` must never be logged."""

    id: str
    status: str
    amount: int
    currency: str
    amount_received: int | None = None
    client_secret: str = field(default="", repr=False)
    metadata: dict = field(default_factory=dict)
    last_error_message: str = ""
    next_action_type: str = ""

    @property
    def amount_collected(self) -> int:
        """Minor units actually collected. localstripe omits amount_received: fall back to amount."""
        return self.amount if self.amount_received is None else self.amount_received


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int


@lru_cache(maxsize=1)
def _client() -> stripe.StripeClient:
    options = {
        "max_network_retries": settings.STRIPE_MAX_NETWORK_RETRIES,
        "http_client": stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    }
    if settings.STRIPE_API_BASE:
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options)


def reset_client() -> None:
    """Forget the cached client (tests change settings between runs)."""
    _client.cache_clear()


def _get(obj, name, default=None):
    # StripeObject raises AttributeError for absent keys; localstripe omits several fields.
    try:
        value = getattr(obj, name)
    except AttributeError:
        return default
    return default if value is None else value


def _customer_error(error) -> str:
    """The part of last_payment_error a customer may read.

    Stripe writes `message` for customers only on card errors; other types (api_error,
    invalid_request_error) carry developer text, which is dropped. A failed 3-D Secure check has
    its own code. localstripe omits `type`: there a code alone marks a card failure.
    """
    if error is None:
        return ""
    code, kind = _get(error, "code", ""), _get(error, "type", "")
    if code == "payment_intent_authentication_failure":
        return "Card authentication failed."
    if kind == "card_error" or (not kind and code):
        return _get(error, "message", "")
    return ""


def _intent(obj) -> Intent:
    error = _get(obj, "last_payment_error")
    next_action = _get(obj, "next_action")
    metadata = _get(obj, "metadata")
    return Intent(
        id=obj.id,
        status=obj.status,
        amount=int(obj.amount),
        currency=str(obj.currency).lower(),
        amount_received=_get(obj, "amount_received"),
        client_secret=_get(obj, "client_secret", ""),
        metadata=metadata.to_dict() if metadata is not None and hasattr(metadata, "to_dict") else {},
        last_error_message=_customer_error(error),
        next_action_type=_get(next_action, "type", "") if next_action is not None else "",
    )


def _translate(exc: stripe.StripeError, action: str):
    """Map a Stripe error to our exception; the original goes to the log, never to a client."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, stripe.CardError):
        logger.info("stripe %s declined: code=%s request=%s", action, exc.code, request_id)
        return PaymentDeclined(exc.user_message or "Your card was declined.", code=exc.code or "")
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        logger.warning("stripe %s unavailable: %s request=%s", action, type(exc).__name__, request_id)
        return PaymentProviderUnavailable("The payment provider could not be reached.")
    logger.error("stripe %s failed: %s %s request=%s", action, type(exc).__name__, exc, request_id)
    return PaymentProviderError("The payment provider refused the request.")


def create_and_confirm_intent(
    *, amount_minor: int, currency: str, payment_method: str, metadata: dict, idempotency_key: str
) -> Intent:
    """Create and confirm a card PaymentIntent on the server (Stripe's webhook-free flow)."""
    params = {
        "amount": amount_minor,
        "currency": currency.lower(),
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "confirm": True,
        "metadata": metadata,
    }
    if not settings.STRIPE_SANDBOX:
        # Real Stripe: let Stripe.js handle 3-D Secure in the page (next_action use_stripe_sdk)
        # instead of a redirect. localstripe rejects this parameter ("Unexpected use_stripe_sdk")
        # and behaves as if it were set, so it is sent only outside the sandbox.
        params["use_stripe_sdk"] = True
    try:
        obj = _client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as exc:
        raise _translate(exc, "create_intent") from exc
    intent = _intent(obj)
    logger.info("stripe intent %s created status=%s", intent.id, intent.status)
    return intent


def retrieve_intent(intent_id: str) -> Intent:
    """Fetch the current state of a PaymentIntent."""
    try:
        return _intent(_client().v1.payment_intents.retrieve(intent_id))
    except stripe.StripeError as exc:
        raise _translate(exc, "retrieve_intent") from exc


def cancel_intent(intent_id: str) -> Intent:
    """Cancel a PaymentIntent that never completed (e.g. abandoned at 3-D Secure)."""
    try:
        return _intent(_client().v1.payment_intents.cancel(intent_id))
    except stripe.StripeError as exc:
        raise _translate(exc, "cancel_intent") from exc


def list_recent_intents(limit: int = 100) -> list[Intent]:
    """The most recent PaymentIntents (used to find an intent whose id we never learned)."""
    try:
        page = _client().v1.payment_intents.list(params={"limit": limit})
    except stripe.StripeError as exc:
        raise _translate(exc, "list_intents") from exc
    return [_intent(obj) for obj in page.data]


def create_refund(
    *, payment_intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict
) -> Refund:
    """Refund `amount_minor` of a PaymentIntent to the card. Callers cap the amount themselves."""
    try:
        obj = _client().v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _translate(exc, "create_refund") from exc
    return Refund(id=obj.id, status=obj.status, amount=int(obj.amount))


def retrieve_refund(refund_id: str) -> Refund:
    """Fetch the current state of a Refund (pending, requires_action, succeeded, failed, canceled)."""
    try:
        obj = _client().v1.refunds.retrieve(refund_id)
    except stripe.StripeError as exc:
        raise _translate(exc, "retrieve_refund") from exc
    return Refund(id=obj.id, status=obj.status, amount=int(obj.amount))


@dataclass(frozen=True)
class Charge:
    """What we need of a Charge: its cumulative refunded total, read from Stripe (never an event body)."""

    id: str
    payment_intent_id: str
    amount_refunded: int
    currency: str


def retrieve_charge(charge_id: str) -> Charge:
    """Fetch the current state of a Charge."""
    try:
        obj = _client().v1.charges.retrieve(charge_id)
    except stripe.StripeError as exc:
        raise _translate(exc, "retrieve_charge") from exc
    intent = _get(obj, "payment_intent", "")
    return Charge(
        id=obj.id,
        payment_intent_id=str(_get(intent, "id", "") if not isinstance(intent, str) else intent),
        amount_refunded=int(_get(obj, "amount_refunded", 0)),
        currency=str(obj.currency).lower(),
    )


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body does not verify."""


def construct_event(payload: bytes, signature_header: str, secret: str) -> dict:
    """Verify a webhook's Stripe-Signature on the raw body and return the event as a dict."""
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(type(exc).__name__) from exc
    return event.to_dict()
