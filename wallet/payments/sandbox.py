"""The sandbox: localstripe (a local fake of Stripe), so every feature works offline.

It speaks Stripe's API through the real backend and differs only where localstripe does:
- PaymentIntent create rejects `use_stripe_sdk` and `setup_future_usage` (it behaves as if the first
  were set); a card is saved by attaching it once the payment succeeded instead (never a declined
  card), after checking it is not saved on another customer, as real Stripe ties a card to one;
- its Stripe.js makes token cards (card_...) it can neither attach to a Customer nor list, though it
  charges them off-session: the sandbox keeps such saved cards in the Customer's metadata;
- it has no search: reconciliation scans one page of the most recent intents;
- a 3-D Secure card charged off-session answers requires_action (real Stripe raises
  authentication_required): the charge-and-settle path treats that state as a failure too.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings

from ..exceptions import CardSavedElsewhere, WalletError
from . import sandbox_disputes
from .base import BrowserConfig, Dispute, FraudWarning, Intent, IntentStatus, SavedCard
from .stripe import StripeBackend, _call, _client, _get, _saved_card

logger = logging.getLogger(__name__)
_SANDBOX_CARDS = "sandbox_saved_cards"
# Stripe's own test cards, which localstripe treats the same way.
TEST_CARDS = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0025 0000 3155", "asks for 3-D Secure"),
    ("4000 0000 0000 0341", "is declined"),
    ("4000 0000 0000 0259", "pays, then is disputed as fraud"),
    ("4000 0000 0000 5423", "pays, then gets an early fraud warning"),
)


def _token_card(payment_method: str) -> bool:
    return payment_method.startswith("card_")


def _ids_in(obj: Any) -> list[str]:
    metadata = _get(obj, "metadata")
    raw = metadata.to_dict().get(_SANDBOX_CARDS, "") if metadata is not None else ""
    return [card for card in str(raw).split(",") if card]


def _card_ids(customer: str) -> list[str]:
    return _ids_in(_call("retrieve_customer", lambda: _client().v1.customers.retrieve(customer)))


def _list_customers() -> Any:
    return _client().v1.customers.list(params={"limit": 100})


def _saved_elsewhere(payment_method: str, customer: str) -> bool:
    """Whether the card is saved on a customer other than `customer`."""
    if not _token_card(payment_method):
        obj = _call("retrieve_payment_method", partial(_retrieve_pm, payment_method), client_param=True)
        owner = _get(obj, "customer")
        owner_id = owner if isinstance(owner, str) or owner is None else _get(owner, "id")
        return bool(owner_id) and owner_id != customer
    # Token cards live in customers' metadata; localstripe holds one machine's test customers, so
    # one page of them is all of them.
    page = _call("list_customers", _list_customers)
    return any(_get(obj, "id") != customer and payment_method in _ids_in(obj) for obj in page.data)


def _set_card_ids(customer: str, ids: list[str]) -> None:
    value = ",".join(ids)
    _call(
        "update_customer",
        lambda: _client().v1.customers.update(customer, params={"metadata": {_SANDBOX_CARDS: value}}),
    )


def _retrieve_pm(payment_method: str) -> Any:
    return _client().v1.payment_methods.retrieve(payment_method)


class SandboxBackend(StripeBackend):
    """localstripe at settings.STRIPE_API_BASE (LOCALSTRIPE_URL by default)."""

    finds_lost_intents_by_search = False

    def intent_params(self, *, customer: str, save_card: bool) -> dict[str, Any]:
        # localstripe rejects use_stripe_sdk and setup_future_usage. The charge's payment method
        # comes expanded, so the answer names the card's last four digits (Intent.card_last4) and
        # _after needs no further call for any card but the dispute and fraud-warning test cards.
        return {"expand": ["latest_charge.payment_method"]}

    def create_and_confirm_intent(
        self, *, amount_minor: int, currency: str, payment_method: str, metadata: dict[str, str],
        idempotency_key: str, customer: str = "", save_card: bool = False,
    ) -> Intent:
        intent = super().create_and_confirm_intent(
            amount_minor=amount_minor, currency=currency, payment_method=payment_method, metadata=metadata,
            idempotency_key=idempotency_key, customer=customer, save_card=save_card,
        )
        self._after(intent)
        return intent

    def charge_saved_card(
        self, *, amount_minor: int, currency: str, customer: str, payment_method: str,
        metadata: dict[str, str], idempotency_key: str,
    ) -> Intent:
        intent = super().charge_saved_card(
            amount_minor=amount_minor, currency=currency, customer=customer, payment_method=payment_method,
            metadata=metadata, idempotency_key=idempotency_key,
        )
        self._after(intent)
        return intent

    @staticmethod
    def _after(intent: Intent) -> None:
        if intent.status != IntentStatus.SUCCEEDED:
            return
        try:
            sandbox_disputes.after_payment(intent.id, card_last4=intent.card_last4)
        except WalletError:
            # The payment itself went through: a sandbox dispute that could not be made is logged.
            logger.exception("sandbox: could not check %s for a dispute test card", intent.id)

    def retrieve_dispute(self, dispute_id: str) -> Dispute:
        return sandbox_disputes.retrieve_dispute(dispute_id)

    def list_recent_disputes(self, limit: int = 100) -> list[Dispute]:
        return sandbox_disputes.list_recent_disputes(limit)

    def submit_dispute_evidence(self, dispute_id: str, *, evidence: dict[str, str]) -> Dispute:
        return sandbox_disputes.submit_evidence(dispute_id, evidence)

    def retrieve_fraud_warning(self, warning_id: str) -> FraudWarning:
        return sandbox_disputes.retrieve_fraud_warning(warning_id)

    def list_recent_fraud_warnings(self, limit: int = 100) -> list[FraudWarning]:
        return sandbox_disputes.list_recent_fraud_warnings(limit)

    def prepare_card_for_saving(self, *, customer: str, payment_method: str) -> None:
        """Refuse, before any charge, a card saved on another customer (CardSavedElsewhere)."""
        if _saved_elsewhere(payment_method, customer):
            raise CardSavedElsewhere(f"{payment_method} is saved on another customer")

    def save_card_after_payment(self, *, customer: str, payment_method: str) -> None:
        """localstripe cannot save a card through the payment (setup_future_usage): attach it now
        that the payment succeeded."""
        self.attach_payment_method(payment_method=payment_method, customer=customer)

    def attach_payment_method(self, *, payment_method: str, customer: str) -> SavedCard:
        if not _token_card(payment_method):
            return super().attach_payment_method(payment_method=payment_method, customer=customer)
        obj = _call("retrieve_payment_method", partial(_retrieve_pm, payment_method), client_param=True)
        ids = _card_ids(customer)
        if payment_method not in ids:
            _set_card_ids(customer, [payment_method, *ids])
        return _saved_card(obj)

    def card_fingerprint(self, payment_method: str) -> str:
        # localstripe's token cards (card_...) are no PaymentMethod and carry no fingerprint.
        return "" if _token_card(payment_method) else super().card_fingerprint(payment_method)

    def list_saved_cards(self, *, customer: str) -> list[SavedCard]:
        cards = super().list_saved_cards(customer=customer)
        for card_id in _card_ids(customer):
            cards.append(_saved_card(_call("retrieve_payment_method", partial(_retrieve_pm, card_id))))
        return cards

    def detach_payment_method(self, *, payment_method: str, customer: str = "") -> None:
        if _token_card(payment_method) and customer:
            _set_card_ids(customer, [c for c in _card_ids(customer) if c != payment_method])
            return
        super().detach_payment_method(payment_method=payment_method, customer=customer)

    def browser_config(self) -> BrowserConfig:
        # Read at request time: tests point the app at a localstripe on a free port.
        base = (settings.STRIPE_API_BASE or settings.LOCALSTRIPE_URL).rstrip("/")
        return BrowserConfig(
            sandbox=True, js_url=base + "/js.stripe.com/v3/", csp_origins=(base,), test_cards=TEST_CARDS
        )
