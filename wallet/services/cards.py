"""Saved cards (issue 14): one Stripe Customer per user, created lazily (outside any transaction).

A card is saved with the first payment that asks for it (the payments backend knows how: real
Stripe with setup_future_usage, the sandbox by attaching it once the payment succeeded). The card
auto-recharge charges is the person's choice: the first card saved, or the one they chose; it never
changes on its own (issue 18, item 10). Every gateway call here runs outside any transaction.

The card list is cached briefly per person (CARDS_CACHE_SECONDS) so that page views do not each
call Stripe; saving or removing a card drops the cached list.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .. import payments
from ..exceptions import WalletError
from ..models import BillingSettings
from ..payments import SavedCard
from .ledger import lock_user
from .recharge_failures import clear_back_off

__all__ = ["CARDS_CACHE_SECONDS", "CardNotFound", "ConfirmRemoval", "SavedCard", "card_label",
           "ensure_customer", "forget_cards", "record_recharge_success", "remember_card", "remove_card",
           "saved_cards", "settings_for", "use_card"]

# Long enough to absorb reloads and a burst of page views, short enough that a card removed in
# Stripe's dashboard disappears from the page within a minute.
CARDS_CACHE_SECONDS = 60


class CardNotFound(WalletError):
    """The card is not one of this customer's saved cards."""

    status = 404
    code = "card_not_found"
    default_message = "That card is not one of your saved cards."


class ConfirmRemoval(WalletError):
    """Removing the card automatic top-ups use turns them off: the person must confirm it first."""

    status = 409
    code = "confirm_removal"
    default_message = (
        "Automatic top-ups use this card. Removing it turns them off until you choose another card."
    )


def settings_for(user_id) -> BillingSettings:
    """The user's billing settings, created (all off) on first use."""
    billing, _ = BillingSettings.objects.get_or_create(user_id=getattr(user_id, "pk", user_id))
    return billing


def ensure_customer(*, user) -> str:
    """The user's Stripe Customer id, created at Stripe the first time (outside any transaction).

    Two racing first saves may both create a Customer; the conditional UPDATE keeps the first and
    the loser's empty Customer stays unused at Stripe (harmless).
    """
    billing = settings_for(user.pk)
    if billing.stripe_customer_id:
        return billing.stripe_customer_id
    customer = payments.create_customer(
        email=user.email, user_id=user.pk, idempotency_key=f"customer-{user.pk}"
    )
    BillingSettings.objects.filter(pk=user.pk, stripe_customer_id__isnull=True).update(
        stripe_customer_id=customer
    )
    return str(BillingSettings.objects.values_list("stripe_customer_id", flat=True).get(pk=user.pk))


def _cards_key(user_id) -> str:
    return f"wallet:saved-cards:{user_id}"


def forget_cards(*, user_id) -> None:
    """Drop the cached card list (a card was saved or removed)."""
    cache.delete(_cards_key(user_id))


def remember_card(*, user_id, payment_method: str) -> None:
    """A card was saved. It becomes the card auto-recharge charges only if none is chosen yet:
    saving another card never moves the person's choice."""
    forget_cards(user_id=user_id)
    BillingSettings.objects.filter(pk=user_id, auto_recharge_payment_method="").update(
        auto_recharge_payment_method=payment_method, updated_at=timezone.now()
    )


def saved_cards(*, user) -> list[SavedCard]:
    """The user's saved cards at Stripe (empty without a Customer), cached for CARDS_CACHE_SECONDS."""
    customer = settings_for(user.pk).stripe_customer_id
    if not customer:
        return []
    key = _cards_key(user.pk)
    cached = cache.get(key)
    if cached is not None and cached[0] == customer:
        return list(cached[1])
    cards = payments.list_saved_cards(customer=customer)
    cache.set(key, (customer, tuple(cards)), timeout=CARDS_CACHE_SECONDS)
    return cards


def card_label(*, user_id, payment_method: str) -> str:
    """"Visa ..4444" for one of the user's saved cards; "" if it cannot be named just now."""
    try:
        cards = saved_cards(user=get_user_model()(pk=user_id))
    except WalletError:
        return ""
    card = next((c for c in cards if c.id == payment_method), None)
    return f"{card.brand.title()} ..{card.last4}" if card else ""


def use_card(*, user, payment_method: str) -> None:
    """Make one of the user's saved cards the card auto-recharge charges. Choosing another card ends
    the back-off and the pause the failing one earned (issue 18: a save of the settings never does)."""
    if payment_method not in {card.id for card in saved_cards(user=user)}:
        raise CardNotFound("No such saved card.")
    with transaction.atomic():
        lock_user(user.pk)  # the lock order: the user row first (settings.save() writes it)
        billing = BillingSettings.objects.select_for_update().get(pk=user.pk)
        if billing.auto_recharge_payment_method != payment_method:
            clear_back_off(billing)
            billing.auto_recharge_payment_method = payment_method
            billing.save()


def remove_card(*, user, payment_method: str, confirmed: bool = False) -> None:
    """Detach one of the user's saved cards.

    If it is the card auto-recharge charges, auto-recharge turns off and no card is chosen: another
    card is never picked silently. While auto-recharge is on, that needs `confirmed` (else
    ConfirmRemoval, and nothing is detached).
    """
    cards = saved_cards(user=user)
    if payment_method not in {card.id for card in cards}:
        raise CardNotFound("No such saved card.")
    billing = settings_for(user.pk)
    if (not confirmed and billing.auto_recharge_enabled
            and billing.auto_recharge_payment_method == payment_method):
        raise ConfirmRemoval("Removing the auto-recharge card needs confirmation.")
    customer = billing.stripe_customer_id or ""
    forget_cards(user_id=user.pk)
    payments.detach_payment_method(payment_method=payment_method, customer=customer)
    forget_cards(user_id=user.pk)
    with transaction.atomic():
        lock_user(user.pk)  # the lock order: the user row first (settings.save() may write it)
        billing = BillingSettings.objects.select_for_update().get(pk=user.pk)
        if billing.auto_recharge_payment_method == payment_method:
            billing.auto_recharge_payment_method = ""
            billing.auto_recharge_enabled = False
            billing.save(
                update_fields=["auto_recharge_payment_method", "auto_recharge_enabled", "updated_at"]
            )


def record_recharge_success(*, user_id) -> None:
    """In settle_topup's transaction, when an automatic top-up is credited: the failure streak ends."""
    BillingSettings.objects.filter(pk=user_id).update(
        auto_recharge_failures=0, auto_recharge_retry_after=None, updated_at=timezone.now()
    )
