"""The payment gateway: one door to the payment provider, whichever backend settings chose.

settings.PAYMENTS_BACKEND names the backend class (derived from STRIPE_SANDBOX unless set):
wallet.payments.stripe.StripeBackend or wallet.payments.sandbox.SandboxBackend. Callers use the
functions below (`from wallet import payments; payments.retrieve_intent(...)`), never a backend or
the SDK; tests that replace one replace it here. Every call refuses to run inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from ..exceptions import PaymentProviderError
from . import stripe as stripe_backend
from .base import (
    BrowserConfig,
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
    from_minor,
    to_minor,
)

__all__ = [
    "BrowserConfig", "Charge", "Dispute", "FraudWarning", "Intent", "IntentStatus", "InvalidWebhook",
    "PaymentsBackend", "Refund",
    "RefundStatus", "SavedCard", "assert_no_transaction", "attach_payment_method", "backend",
    "browser_config", "cancel_intent", "cancel_or_retrieve", "charge_saved_card", "construct_event",
    "create_and_confirm_intent", "create_customer", "create_refund", "detach_payment_method", "from_minor",
    "list_recent_intents", "list_saved_cards", "lost_intent_finder", "prepare_card_for_saving",
    "reset_client", "retrieve_charge", "retrieve_intent", "retrieve_refund", "save_card_after_payment",
    "search_intents_by_metadata", "to_minor",
    "list_recent_disputes", "list_recent_fraud_warnings", "retrieve_dispute", "retrieve_fraud_warning",
    "submit_dispute_evidence",
]

# One page of PaymentIntents scanned (where the provider has no search) for a top-up whose intent
# id we never learned.
RECENT_INTENTS = 100


@lru_cache(maxsize=4)
def _load(path: str) -> PaymentsBackend:
    instance = import_string(path)()
    if not isinstance(instance, PaymentsBackend):
        raise TypeError(f"PAYMENTS_BACKEND {path!r} is not a wallet.payments.base.PaymentsBackend")
    return instance


def backend() -> PaymentsBackend:
    """The configured backend (read per call: tests switch settings)."""
    return _load(settings.PAYMENTS_BACKEND)


def reset_client() -> None:
    """Forget the cached backends and SDK client (tests change settings between runs)."""
    _load.cache_clear()
    stripe_backend.reset_client()


def create_and_confirm_intent(
    *, amount_minor: int, currency: str, payment_method: str, metadata: dict[str, str], idempotency_key: str,
    customer: str = "", save_card: bool = False,
) -> Intent:
    """Create and confirm a card PaymentIntent on the server; PaymentMethodRejected for a bad card id."""
    return backend().create_and_confirm_intent(
        amount_minor=amount_minor, currency=currency, payment_method=payment_method, metadata=metadata,
        idempotency_key=idempotency_key, customer=customer, save_card=save_card,
    )


def retrieve_intent(intent_id: str) -> Intent:
    """Fetch the current state of a PaymentIntent."""
    return backend().retrieve_intent(intent_id)


def cancel_intent(intent_id: str) -> Intent:
    """Cancel a PaymentIntent that never completed (e.g. abandoned at 3-D Secure)."""
    return backend().cancel_intent(intent_id)


def cancel_or_retrieve(intent_id: str) -> Intent:
    """Cancel an intent; if the provider refuses (it moved on: succeeded, processing...), read it back.

    Either way the answer is the intent's state now, for settle_topup to record.
    """
    try:
        return cancel_intent(intent_id)
    except PaymentProviderError:
        return retrieve_intent(intent_id)


def list_recent_intents(limit: int = 100) -> list[Intent]:
    """The most recent PaymentIntents (the sandbox's way to find an intent whose id we never learned)."""
    return backend().list_recent_intents(limit=limit)


def search_intents_by_metadata(key: str, value: str, *, limit: int = 10) -> list[Intent]:
    """PaymentIntents whose metadata[key] is value (real Stripe only; localstripe has no search)."""
    return backend().search_intents_by_metadata(key, value, limit=limit)


def lost_intent_finder() -> Callable[[str], tuple[list[Intent], bool]]:
    """For one reconciliation run: topup id -> (candidate intents, whether the list may be cut off).

    Real Stripe searches for exactly that top-up's intent (eventually consistent, about a minute
    behind). Without search, one page of the most recent intents is listed, once per run, and a
    full page may have cut the intent off.
    """
    if backend().finds_lost_intents_by_search:
        return lambda topup_id: (search_intents_by_metadata("topup_id", topup_id), False)
    recent: list[Intent] | None = None

    def scan(topup_id: str) -> tuple[list[Intent], bool]:
        nonlocal recent
        if recent is None:
            recent = list_recent_intents(limit=RECENT_INTENTS)
        return recent, len(recent) >= RECENT_INTENTS

    return scan


def create_refund(
    *, payment_intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict[str, str]
) -> Refund:
    """Refund `amount_minor` of a PaymentIntent to the card. Callers cap the amount themselves."""
    return backend().create_refund(
        payment_intent_id=payment_intent_id, amount_minor=amount_minor, idempotency_key=idempotency_key,
        metadata=metadata,
    )


def retrieve_refund(refund_id: str) -> Refund:
    """Fetch the current state of a Refund (pending, requires_action, succeeded, failed, canceled)."""
    return backend().retrieve_refund(refund_id)


def retrieve_charge(charge_id: str) -> Charge:
    """Fetch the current state of a Charge."""
    return backend().retrieve_charge(charge_id)


def create_customer(*, email: str, user_id: int, idempotency_key: str) -> str:
    """Create a Customer for one of our users; returns its id."""
    return backend().create_customer(email=email, user_id=user_id, idempotency_key=idempotency_key)


def prepare_card_for_saving(*, customer: str, payment_method: str) -> None:
    """Before a payment that saves its card (the sandbox attaches it; real Stripe needs nothing)."""
    backend().prepare_card_for_saving(customer=customer, payment_method=payment_method)


def save_card_after_payment(*, customer: str, payment_method: str) -> None:
    """After a payment that saves its card succeeded (the sandbox attaches it; real Stripe needs nothing)."""
    backend().save_card_after_payment(customer=customer, payment_method=payment_method)


def card_fingerprint(payment_method: str) -> str:
    """Stripe's fingerprint of a PaymentMethod's card ("" if none): one read, nothing created."""
    return backend().card_fingerprint(payment_method)


def attach_payment_method(*, payment_method: str, customer: str) -> SavedCard:
    """Attach a card to a Customer."""
    return backend().attach_payment_method(payment_method=payment_method, customer=customer)


def list_saved_cards(*, customer: str) -> list[SavedCard]:
    """The cards saved on a Customer, newest first."""
    return backend().list_saved_cards(customer=customer)


def detach_payment_method(*, payment_method: str, customer: str = "") -> None:
    """Remove a saved card from its Customer (it can no longer be charged off-session)."""
    backend().detach_payment_method(payment_method=payment_method, customer=customer)


def charge_saved_card(
    *, amount_minor: int, currency: str, customer: str, payment_method: str,
    metadata: dict[str, str], idempotency_key: str,
) -> Intent:
    """Create and confirm an off-session PaymentIntent on a saved card (auto-recharge)."""
    return backend().charge_saved_card(
        amount_minor=amount_minor, currency=currency, customer=customer, payment_method=payment_method,
        metadata=metadata, idempotency_key=idempotency_key,
    )


def retrieve_dispute(dispute_id: str) -> Dispute:
    """Fetch the current state of a Dispute (amount, status, whether funds moved)."""
    return backend().retrieve_dispute(dispute_id)


def list_recent_disputes(limit: int = 100) -> list[Dispute]:
    """The most recent Disputes, newest first (reconciliation's way to miss none without webhooks)."""
    return backend().list_recent_disputes(limit=limit)


def submit_dispute_evidence(dispute_id: str, *, evidence: dict[str, str]) -> Dispute:
    """Send evidence for a Dispute and submit it to the bank (Stripe allows one submission)."""
    return backend().submit_dispute_evidence(dispute_id, evidence=evidence)


def retrieve_fraud_warning(warning_id: str) -> FraudWarning:
    """Fetch a Radar early fraud warning."""
    return backend().retrieve_fraud_warning(warning_id)


def list_recent_fraud_warnings(limit: int = 100) -> list[FraudWarning]:
    """The most recent early fraud warnings, newest first."""
    return backend().list_recent_fraud_warnings(limit=limit)


def construct_event(payload: bytes, signature_header: str, secret: str) -> dict[str, Any]:
    """Verify a webhook's signature on the raw body and return the event as a dict (InvalidWebhook)."""
    return backend().construct_event(payload, signature_header, secret)


def browser_config() -> BrowserConfig:
    """What the pages need of the backend (the sandbox's Stripe.js, its test cards, CSP origins)."""
    return backend().browser_config()
