"""Saved cards (issue 14): one Stripe Customer per user, created lazily (outside any transaction).

A card is saved with the first payment that asks for it (the payments backend knows how: real
Stripe with setup_future_usage, the sandbox by attaching it first); the card saved last is the one
auto-recharge charges. Every gateway call here runs outside any transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import payments
from ..exceptions import WalletError
from ..models import BillingSettings
from ..payments import SavedCard
from .ledger import lock_user
from .recharge_failures import clear_back_off

__all__ = ["CardNotFound", "SavedCard", "ensure_customer", "record_recharge_success", "remember_card",
           "remove_card", "saved_cards", "settings_for", "use_card"]


class CardNotFound(WalletError):
    """The card is not one of this customer's saved cards."""

    status = 404
    code = "card_not_found"
    default_message = "That card is not one of your saved cards."


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


def remember_card(*, user_id, payment_method: str) -> None:
    """A card was saved: it becomes the card auto-recharge charges."""
    BillingSettings.objects.filter(pk=user_id).update(
        auto_recharge_payment_method=payment_method, updated_at=timezone.now()
    )


def saved_cards(*, user) -> list[SavedCard]:
    """The user's saved cards at Stripe (empty without a Customer)."""
    customer = settings_for(user.pk).stripe_customer_id
    if not customer:
        return []
    return payments.list_saved_cards(customer=customer)


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


def remove_card(*, user, payment_method: str) -> None:
    """Detach one of the user's saved cards; auto-recharge falls back to another card, or turns off."""
    cards = saved_cards(user=user)
    if payment_method not in {card.id for card in cards}:
        raise CardNotFound("No such saved card.")
    customer = settings_for(user.pk).stripe_customer_id or ""
    payments.detach_payment_method(payment_method=payment_method, customer=customer)
    others = [card.id for card in cards if card.id != payment_method]
    with transaction.atomic():
        lock_user(user.pk)  # the lock order: the user row first (settings.save() may write it)
        billing = BillingSettings.objects.select_for_update().get(pk=user.pk)
        if billing.auto_recharge_payment_method == payment_method:
            billing.auto_recharge_payment_method = others[0] if others else ""
            if not others:
                billing.auto_recharge_enabled = False
            billing.save(
                update_fields=["auto_recharge_payment_method", "auto_recharge_enabled", "updated_at"]
            )


def record_recharge_success(*, user_id) -> None:
    """In settle_topup's transaction, when an automatic top-up is credited: the failure streak ends."""
    BillingSettings.objects.filter(pk=user_id).update(
        auto_recharge_failures=0, auto_recharge_retry_after=None, updated_at=timezone.now()
    )
