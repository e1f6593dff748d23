"""Real Stripe: the only module that imports stripe, a thin typed backend over stripe.StripeClient.

It turns Stripe objects into our dataclasses (wallet.payments.base) and Stripe errors into our
exceptions. Every request goes through `_call`, which refuses to run inside a database transaction
(money rule 4) and translates Stripe's errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import stripe
from django.conf import settings
from stripe.params import PaymentIntentCreateParams

from ..exceptions import (
    PaymentDeclined,
    PaymentMethodRejected,
    PaymentProviderError,
    PaymentProviderUnavailable,
    WalletError,
)
from .base import (
    Charge,
    Dispute,
    FraudWarning,
    Intent,
    IntentStatus,
    InvalidWebhook,
    PaymentsBackend,
    Refund,
    RefundStatus,
    SavedCard,
    assert_no_transaction,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
        card_last4=_charge_last4(_get(obj, "latest_charge")),
    )


def _charge_last4(charge: Any) -> str:
    """The card's last four digits from an intent's latest_charge, when it came as an object."""
    if charge is None or isinstance(charge, str):
        return ""
    details = _get(charge, "payment_method_details")
    card = _get(details, "card") if details is not None else None
    if card is None:
        method = _get(charge, "payment_method")  # expanded (the sandbox asks for it)
        if method is None or isinstance(method, str):
            return ""
        card = method if _get(method, "object") == "card" else _get(method, "card")
    return str(_get(card, "last4", "") or "") if card is not None else ""


def _refund(obj: Any) -> Refund:
    return Refund(id=str(obj.id), status=RefundStatus.from_stripe(obj.status), amount=int(obj.amount))


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


def _id_of(value: Any) -> str:
    """An id field that may come as a string or as an expanded object."""
    if value is None or isinstance(value, str):
        return value or ""
    return str(_get(value, "id", ""))


# Dispute states after Stripe took the money back (inquiries, warning_*, take nothing).
_FUNDS_WITHDRAWN = ("needs_response", "under_review", "won", "lost")


def _dispute(obj: Any) -> Dispute:
    # Funds moved when Stripe wrote balance transactions: a negative one took the money back from
    # the business, a positive one reinstated it. The status backs this up where they are absent.
    moves = [int(_get(bt, "amount", 0)) for bt in (_get(obj, "balance_transactions") or [])]
    status = str(_get(obj, "status", "unknown"))
    details = _get(obj, "evidence_details")
    due_by = _get(details, "due_by") if details is not None else None
    return Dispute(
        id=str(obj.id),
        charge_id=_id_of(_get(obj, "charge")),
        payment_intent_id=_id_of(_get(obj, "payment_intent")),
        amount=int(obj.amount),
        currency=str(obj.currency).lower(),
        status=status,
        reason=str(_get(obj, "reason", "")),
        evidence_due_by=None if due_by is None else int(due_by),
        funds_withdrawn=any(m < 0 for m in moves) or status in _FUNDS_WITHDRAWN,
        funds_reinstated=any(m > 0 for m in moves) or status == "won",
        evidence_submitted=details is not None and int(_get(details, "submission_count", 0) or 0) > 0,
    )


def _fraud_warning(obj: Any) -> FraudWarning:
    return FraudWarning(
        id=str(obj.id),
        charge_id=_id_of(_get(obj, "charge")),
        payment_intent_id=_id_of(_get(obj, "payment_intent")),
        actionable=bool(_get(obj, "actionable", False)),
        fraud_type=str(_get(obj, "fraud_type", "")),
    )
def _declined_fingerprint(exc: stripe.CardError) -> str:
    """The declined card's fingerprint: Stripe puts the PaymentMethod on a confirmation's card error."""
    method = _get(getattr(exc, "error", None), "payment_method")
    return str(_get(_get(method, "card"), "fingerprint", "") or "")


def _translate(exc: stripe.StripeError, action: str, *, client_param: bool = False) -> WalletError:
    """Map a Stripe error to our exception; the original goes to the log, never to a client."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, stripe.CardError):
        logger.info("stripe %s declined: code=%s request=%s", action, exc.code, request_id)
        return PaymentDeclined(exc.user_message or "Your card was declined.", code=exc.code or "",
                               card_fingerprint=_declined_fingerprint(exc))
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        logger.warning("stripe %s unavailable: %s request=%s", action, type(exc).__name__, request_id)
        return PaymentProviderUnavailable("The payment provider could not be reached.")
    logger.error("stripe %s failed: %s %s request=%s", action, type(exc).__name__, exc, request_id)
    if client_param and isinstance(exc, stripe.InvalidRequestError) and exc.http_status in (400, 404):
        return PaymentMethodRejected("The payment provider refused the payment method.")
    return PaymentProviderError("The payment provider refused the request.")


_SEARCH_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")


class StripeBackend(PaymentsBackend):
    """Real Stripe (test or live keys): settings.STRIPE_SECRET_KEY, STRIPE_API_BASE, STRIPE_API_VERSION."""

    finds_lost_intents_by_search = True

    def intent_params(self, *, customer: str, save_card: bool) -> dict[str, Any]:
        """The create-and-confirm parameters that differ between real Stripe and the sandbox."""
        # Let Stripe.js handle 3-D Secure in the page (next_action use_stripe_sdk), not a redirect.
        params: dict[str, Any] = {"use_stripe_sdk": True}
        if customer and save_card:
            # Stripe saves the card for off-session use when this payment succeeds.
            params["setup_future_usage"] = "off_session"
        return params

    def create_and_confirm_intent(
        self, *, amount_minor: int, currency: str, payment_method: str, metadata: dict[str, str],
        idempotency_key: str, customer: str = "", save_card: bool = False,
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
        if customer:
            params["customer"] = customer
        params.update(self.intent_params(customer=customer, save_card=save_card))  # type: ignore[typeddict-item]
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        obj = _call(
            "create_intent",
            lambda: _client().v1.payment_intents.create(params=params, options=options),
            client_param=True,
        )
        intent = _intent(obj)
        logger.info("stripe intent %s created status=%s", intent.id, intent.status)
        return intent

    def retrieve_intent(self, intent_id: str) -> Intent:
        return _intent(_call("retrieve_intent", lambda: _client().v1.payment_intents.retrieve(intent_id)))

    def cancel_intent(self, intent_id: str) -> Intent:
        return _intent(_call("cancel_intent", lambda: _client().v1.payment_intents.cancel(intent_id)))

    def list_recent_intents(self, limit: int = 100) -> list[Intent]:
        page = _call("list_intents", lambda: _client().v1.payment_intents.list(params={"limit": limit}))
        return [_intent(obj) for obj in page.data]

    def search_intents_by_metadata(self, key: str, value: str, *, limit: int = 10) -> list[Intent]:
        """Stripe's search is eventually consistent: an intent may take up to a minute to show up."""
        if not (_SEARCH_VALUE.fullmatch(key) and _SEARCH_VALUE.fullmatch(value)):
            raise ValueError("search keys and values are ids: letters, digits, '-' and '_'")
        query = f"metadata['{key}']:'{value}'"
        page = _call(
            "search_intents",
            lambda: _client().v1.payment_intents.search(params={"query": query, "limit": limit}),
        )
        return [_intent(obj) for obj in page.data]

    def create_refund(
        self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict[str, str]
    ) -> Refund:
        return _refund(
            _call(
                "create_refund",
                lambda: _client().v1.refunds.create(
                    params={
                        "payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata
                    },
                    options={"idempotency_key": idempotency_key},
                ),
            )
        )

    def retrieve_refund(self, refund_id: str) -> Refund:
        return _refund(_call("retrieve_refund", lambda: _client().v1.refunds.retrieve(refund_id)))

    def retrieve_charge(self, charge_id: str) -> Charge:
        obj = _call("retrieve_charge", lambda: _client().v1.charges.retrieve(charge_id))
        intent = _get(obj, "payment_intent", "")
        return Charge(
            id=str(obj.id),
            payment_intent_id=str(intent if isinstance(intent, str) else _get(intent, "id", "")),
            amount_refunded=int(_get(obj, "amount_refunded", 0)),
            currency=str(obj.currency).lower(),
        )

    def create_customer(self, *, email: str, user_id: int, idempotency_key: str) -> str:
        obj = _call(
            "create_customer",
            lambda: _client().v1.customers.create(
                params={"email": email, "metadata": {"user_id": str(user_id)}},
                options={"idempotency_key": idempotency_key},
            ),
        )
        return str(obj.id)

    def attach_payment_method(self, *, payment_method: str, customer: str) -> SavedCard:
        obj = _call(
            "attach_payment_method",
            lambda: _client().v1.payment_methods.attach(payment_method, params={"customer": customer}),
            client_param=True,
        )
        return _saved_card(obj)

    def list_saved_cards(self, *, customer: str) -> list[SavedCard]:
        page = _call(
            "list_payment_methods",
            lambda: _client().v1.payment_methods.list(params={"customer": customer, "type": "card"}),
        )
        return [_saved_card(obj) for obj in page.data]

    def card_fingerprint(self, payment_method: str) -> str:
        obj = _call(
            "retrieve_payment_method",
            lambda: _client().v1.payment_methods.retrieve(payment_method),
            client_param=True,
        )
        return str(_get(_get(obj, "card"), "fingerprint", "") or "")

    def detach_payment_method(self, *, payment_method: str, customer: str = "") -> None:
        _call("detach_payment_method", lambda: _client().v1.payment_methods.detach(payment_method))

    def charge_saved_card(
        self, *, amount_minor: int, currency: str, customer: str, payment_method: str,
        metadata: dict[str, str], idempotency_key: str,
    ) -> Intent:
        """Create and confirm an off-session PaymentIntent on a saved card (auto-recharge).

        A card that needs the customer raises PaymentDeclined: a decline, an expired card, or
        `authentication_required`.
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

    def retrieve_dispute(self, dispute_id: str) -> Dispute:
        return _dispute(_call("retrieve_dispute", lambda: _client().v1.disputes.retrieve(dispute_id)))

    def list_recent_disputes(self, limit: int = 100) -> list[Dispute]:
        page = _call("list_disputes", lambda: _client().v1.disputes.list(params={"limit": limit}))
        return [_dispute(obj) for obj in page.data]

    def submit_dispute_evidence(self, dispute_id: str, *, evidence: dict[str, str]) -> Dispute:
        # Stripe accepts one submission: `submit` sends the evidence to the bank now.
        params: Any = {"evidence": evidence, "submit": True}
        return _dispute(
            _call("submit_dispute_evidence", lambda: _client().v1.disputes.update(dispute_id, params=params))
        )

    def retrieve_fraud_warning(self, warning_id: str) -> FraudWarning:
        return _fraud_warning(
            _call(
                "retrieve_fraud_warning",
                lambda: _client().v1.radar.early_fraud_warnings.retrieve(warning_id),
            )
        )

    def list_recent_fraud_warnings(self, limit: int = 100) -> list[FraudWarning]:
        page = _call(
            "list_fraud_warnings",
            lambda: _client().v1.radar.early_fraud_warnings.list(params={"limit": limit}),
        )
        return [_fraud_warning(obj) for obj in page.data]

    def construct_event(self, payload: bytes, signature_header: str, secret: str) -> dict[str, Any]:
        """Verify a webhook's Stripe-Signature on the raw body and return the event as a dict."""
        try:
            event = stripe.Webhook.construct_event(payload, signature_header, secret)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise InvalidWebhook(type(exc).__name__) from exc
        data: dict[str, Any] = event.to_dict()
        return data
