"""
The only module that imports stripe: a thin, typed facade over stripe.StripeClient.

It turns Stripe objects into small frozen dataclasses carrying our own status enums (IntentStatus,
RefundStatus) and Stripe errors into our exceptions, so the rest of the code never sees the SDK.
Amounts cross this boundary as integer minor units (fils). Every request goes through `_call`, which
refuses to run inside a database transaction (money rule 4) and translates Stripe's errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache, partial
from typing import Any, TypeVar

import stripe
from django.conf import settings
from django.db import connection
from stripe.params import PaymentIntentCreateParams

from .exceptions import (
    PaymentDeclined,
    PaymentMethodRejected,
    PaymentProviderError,
    PaymentProviderUnavailable,
    WalletError,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


@lru_cache(maxsize=1)
def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        # Pinned: the version the contract tests validate against (settings.STRIPE_API_VERSION).
        stripe_version=settings.STRIPE_API_VERSION or None,
    )


def reset_client() -> None:
    """Forget the cached client (tests change settings between runs)."""
    _client.cache_clear()


def _call(action: str, request: Callable[[], T], *, client_param: bool = False) -> T:
    """Every Stripe request goes through here: the transaction guard, then errors translated.

    client_param=True: the request carries a value the client chose (the payment method), so
    Stripe's 400/404 invalid_request is the client's mistake (PaymentMethodRejected).
    """
    assert_no_transaction()
    try:
        return request()
    except stripe.StripeError as exc:
        raise _translate(exc, action, client_param=client_param) from exc


def _get(obj: Any, name: str, default: Any = None) -> Any:
    # StripeObject raises AttributeError for absent keys; localstripe omits several fields.
    try:
        value = getattr(obj, name)
    except AttributeError:
        return default
    return default if value is None else value


def _customer_error(error: Any) -> str:
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
        return str(_get(error, "message", ""))
    return ""


def _intent(obj: Any) -> Intent:
    error = _get(obj, "last_payment_error")
    next_action = _get(obj, "next_action")
    metadata = _get(obj, "metadata")
    received = _get(obj, "amount_received")
    return Intent(
        id=str(obj.id),
        status=IntentStatus.from_stripe(obj.status),
        amount=int(obj.amount),
        currency=str(obj.currency).lower(),
        amount_received=None if received is None else int(received),
        client_secret=str(_get(obj, "client_secret", "")),
        metadata=(
            {str(k): str(v) for k, v in metadata.to_dict().items()}
            if metadata is not None and hasattr(metadata, "to_dict")
            else {}
        ),
        last_error_message=_customer_error(error),
        next_action_type=str(_get(next_action, "type", "")) if next_action is not None else "",
    )


def _refund(obj: Any) -> Refund:
    return Refund(id=str(obj.id), status=RefundStatus.from_stripe(obj.status), amount=int(obj.amount))


def _translate(exc: stripe.StripeError, action: str, *, client_param: bool = False) -> WalletError:
    """Map a Stripe error to our exception; the original goes to the log, never to a client."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, stripe.CardError):
        logger.info("stripe %s declined: code=%s request=%s", action, exc.code, request_id)
        return PaymentDeclined(exc.user_message or "Your card was declined.", code=exc.code or "")
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        logger.warning("stripe %s unavailable: %s request=%s", action, type(exc).__name__, request_id)
        return PaymentProviderUnavailable("The payment provider could not be reached.")
    logger.error("stripe %s failed: %s %s request=%s", action, type(exc).__name__, exc, request_id)
    if client_param and isinstance(exc, stripe.InvalidRequestError) and exc.http_status in (400, 404):
        return PaymentMethodRejected("The payment provider refused the payment method.")
    return PaymentProviderError("The payment provider refused the request.")


def create_and_confirm_intent(
    *, amount_minor: int, currency: str, payment_method: str, metadata: dict[str, str], idempotency_key: str,
    customer: str = "", save_card: bool = False,
) -> Intent:
    """Create and confirm a card PaymentIntent on the server (Stripe's webhook-free flow).

    Raises PaymentMethodRejected when Stripe refuses the request as invalid (400/404): the payment
    method id is the one value the client chose.
    """
    params: PaymentIntentCreateParams = {
        "amount": amount_minor,
        "currency": currency.lower(),
        "payment_method": payment_method,
        # Valid at the pinned API version (2023-08-16, checked by stripe-mock); stripe-python's types
        # describe its own newer version, where this parameter was removed.
        "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
        "confirm": True,
        "metadata": metadata,
    }
    if not settings.STRIPE_SANDBOX:
        # Real Stripe: let Stripe.js handle 3-D Secure in the page (next_action use_stripe_sdk)
        # instead of a redirect. localstripe rejects this parameter ("Unexpected use_stripe_sdk")
        # and behaves as if it were set, so it is sent only outside the sandbox.
        params["use_stripe_sdk"] = True
    if customer:
        params["customer"] = customer
        if save_card and not settings.STRIPE_SANDBOX:
            # Real Stripe saves the card for off-session use when this payment succeeds.
            # localstripe rejects the parameter: there billing.save_card attaches the card instead.
            params["setup_future_usage"] = "off_session"
    options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
    obj = _call(
        "create_intent",
        lambda: _client().v1.payment_intents.create(params=params, options=options),
        client_param=True,
    )
    intent = _intent(obj)
    logger.info("stripe intent %s created status=%s", intent.id, intent.status)
    return intent


def retrieve_intent(intent_id: str) -> Intent:
    """Fetch the current state of a PaymentIntent."""
    return _intent(_call("retrieve_intent", lambda: _client().v1.payment_intents.retrieve(intent_id)))


def cancel_intent(intent_id: str) -> Intent:
    """Cancel a PaymentIntent that never completed (e.g. abandoned at 3-D Secure)."""
    return _intent(_call("cancel_intent", lambda: _client().v1.payment_intents.cancel(intent_id)))


def list_recent_intents(limit: int = 100) -> list[Intent]:
    """The most recent PaymentIntents (the sandbox's way to find an intent whose id we never learned)."""
    page = _call("list_intents", lambda: _client().v1.payment_intents.list(params={"limit": limit}))
    return [_intent(obj) for obj in page.data]


_SEARCH_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")


def search_intents_by_metadata(key: str, value: str, *, limit: int = 10) -> list[Intent]:
    """PaymentIntents whose metadata[key] is value (real Stripe only; localstripe has no search).

    Stripe's search is eventually consistent: an intent may take up to a minute to show up.
    """
    if not (_SEARCH_VALUE.fullmatch(key) and _SEARCH_VALUE.fullmatch(value)):
        raise ValueError("search keys and values are ids: letters, digits, '-' and '_'")
    query = f"metadata['{key}']:'{value}'"
    page = _call(
        "search_intents",
        lambda: _client().v1.payment_intents.search(params={"query": query, "limit": limit}),
    )
    return [_intent(obj) for obj in page.data]


def create_refund(
    *, payment_intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict[str, str]
) -> Refund:
    """Refund `amount_minor` of a PaymentIntent to the card. Callers cap the amount themselves."""
    return _refund(
        _call(
            "create_refund",
            lambda: _client().v1.refunds.create(
                params={"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            ),
        )
    )


def retrieve_refund(refund_id: str) -> Refund:
    """Fetch the current state of a Refund (pending, requires_action, succeeded, failed, canceled)."""
    return _refund(_call("retrieve_refund", lambda: _client().v1.refunds.retrieve(refund_id)))


def retrieve_charge(charge_id: str) -> Charge:
    """Fetch the current state of a Charge."""
    obj = _call("retrieve_charge", lambda: _client().v1.charges.retrieve(charge_id))
    intent = _get(obj, "payment_intent", "")
    return Charge(
        id=str(obj.id),
        payment_intent_id=str(intent if isinstance(intent, str) else _get(intent, "id", "")),
        amount_refunded=int(_get(obj, "amount_refunded", 0)),
        currency=str(obj.currency).lower(),
    )


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


def _saved_card(obj: Any) -> SavedCard:
    # A PaymentMethod carries the card under `card`; localstripe's token cards (card_...) are the
    # card itself.
    card = obj if _get(obj, "object") == "card" else _get(obj, "card")
    return SavedCard(
        id=str(obj.id),
        brand=str(_get(card, "brand", "card")),
        last4=str(_get(card, "last4", "")),
        exp_month=int(_get(card, "exp_month", 0)),
        exp_year=int(_get(card, "exp_year", 0)),
    )


# localstripe cannot attach the token cards (card_...) its Stripe.js makes to a Customer, nor list
# them; it does charge them off-session with the customer. So the sandbox keeps the list of such
# saved cards in the Customer's metadata. Real Stripe (and pm_ ids) use the real attach/list/detach.
_SANDBOX_CARDS = "sandbox_saved_cards"


def _sandbox_token_card(payment_method: str) -> bool:
    return bool(settings.STRIPE_SANDBOX) and payment_method.startswith("card_")


def _sandbox_card_ids(customer: str) -> list[str]:
    obj = _call("retrieve_customer", lambda: _client().v1.customers.retrieve(customer))
    metadata = _get(obj, "metadata")
    raw = metadata.to_dict().get(_SANDBOX_CARDS, "") if metadata is not None else ""
    return [card for card in str(raw).split(",") if card]


def _set_sandbox_card_ids(customer: str, ids: list[str]) -> None:
    value = ",".join(ids)
    _call(
        "update_customer",
        lambda: _client().v1.customers.update(customer, params={"metadata": {_SANDBOX_CARDS: value}}),
    )


def create_customer(*, email: str, user_id: int, idempotency_key: str) -> str:
    """Create a Stripe Customer for one of our users; returns its id."""
    obj = _call(
        "create_customer",
        lambda: _client().v1.customers.create(
            params={"email": email, "metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": idempotency_key},
        ),
    )
    return str(obj.id)


def attach_payment_method(*, payment_method: str, customer: str) -> SavedCard:
    """Attach a card to a Customer (the sandbox's way to save it; real Stripe uses setup_future_usage)."""
    if _sandbox_token_card(payment_method):
        obj = _call(
            "retrieve_payment_method",
            lambda: _client().v1.payment_methods.retrieve(payment_method),
            client_param=True,
        )
        ids = _sandbox_card_ids(customer)
        if payment_method not in ids:
            _set_sandbox_card_ids(customer, [payment_method, *ids])
        return _saved_card(obj)
    obj = _call(
        "attach_payment_method",
        lambda: _client().v1.payment_methods.attach(payment_method, params={"customer": customer}),
        client_param=True,
    )
    return _saved_card(obj)


def _retrieve_pm(payment_method: str) -> Any:
    return _client().v1.payment_methods.retrieve(payment_method)


def list_saved_cards(*, customer: str) -> list[SavedCard]:
    """The cards saved on a Customer, newest first."""
    page = _call(
        "list_payment_methods",
        lambda: _client().v1.payment_methods.list(params={"customer": customer, "type": "card"}),
    )
    cards = [_saved_card(obj) for obj in page.data]
    if settings.STRIPE_SANDBOX:
        for card_id in _sandbox_card_ids(customer):
            cards.append(_saved_card(_call("retrieve_payment_method", partial(_retrieve_pm, card_id))))
    return cards


def detach_payment_method(*, payment_method: str, customer: str = "") -> None:
    """Remove a saved card from its Customer (it can no longer be charged off-session)."""
    if _sandbox_token_card(payment_method) and customer:
        _set_sandbox_card_ids(customer, [c for c in _sandbox_card_ids(customer) if c != payment_method])
        return
    _call("detach_payment_method", lambda: _client().v1.payment_methods.detach(payment_method))


def charge_saved_card(
    *, amount_minor: int, currency: str, customer: str, payment_method: str,
    metadata: dict[str, str], idempotency_key: str,
) -> Intent:
    """Create and confirm an off-session PaymentIntent on a saved card (auto-recharge).

    A card that needs the customer raises PaymentDeclined: a decline, an expired card, or
    (real Stripe) `authentication_required`. localstripe instead answers requires_action for a
    3-D Secure card: callers treat that state as a failure too.
    """
    params: PaymentIntentCreateParams = {
        "amount": amount_minor,
        "currency": currency.lower(),
        "customer": customer,
        "payment_method": payment_method,
        "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
        "confirm": True,
        "off_session": True,
        "metadata": metadata,
    }
    options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
    obj = _call(
        "charge_saved_card", lambda: _client().v1.payment_intents.create(params=params, options=options)
    )
    intent = _intent(obj)
    logger.info("stripe off-session intent %s created status=%s", intent.id, intent.status)
    return intent


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body does not verify."""


def construct_event(payload: bytes, signature_header: str, secret: str) -> dict[str, Any]:
    """Verify a webhook's Stripe-Signature on the raw body and return the event as a dict."""
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(type(exc).__name__) from exc
    data: dict[str, Any] = event.to_dict()
    return data
