"""The billing settings page (/wallet/settings/): saved cards, auto-recharge, alert and spend limit."""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from .exceptions import WalletError
from .models import BillingSettings, TopUp
from .money import AmountField, format_money
from .services import billing, max_balance
from .services import cards as card_service

logger = logging.getLogger(__name__)

CARDS_UNAVAILABLE = "Your saved cards could not be loaded just now. Try again in a moment."
CARD_NOT_REMOVED = "The card could not be removed just now. Try again in a moment."


class BillingSettingsForm(forms.Form):
    """The settings, field names as in issue 14. Amounts follow the one amount rule (wallet.money)."""

    auto_recharge_enabled = forms.BooleanField(label="Top up automatically", required=False)
    # Signed so that "-5" gets its own message ("0 or more") instead of the generic format one.
    auto_recharge_threshold = AmountField(
        signed=True, label="Recharge when the balance falls below", required=False,
        help_text="AED, 0 or more.",
    )
    auto_recharge_amount = AmountField(signed=True, label="Add this amount", required=False)
    auto_recharge_monthly_limit = AmountField(
        label="Most added by automatic top-ups per month", required=False,
        help_text="AED. Leave blank for no cap.",
    )
    low_balance_alert = AmountField(
        label="Email me if the balance drops under", required=False,
        help_text="AED. Leave blank for no alert."
    )
    monthly_spend_limit = AmountField(
        label="Monthly spend limit on agents", required=False,
        help_text="AED per calendar month. Leave blank for no limit.",
    )

    def __init__(self, *args, has_card: bool, chosen_card: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_card = has_card
        self.chosen_card = chosen_card
        low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
        self.fields["auto_recharge_amount"].help_text = (
            f"Between {format_money(low)} and {format_money(high)}. Each automatic top-up charges exactly "
            "this amount, never more, even if the balance has fallen further."
        )
        self.fields["auto_recharge_threshold"].help_text = (
            f"0 or more, and below {format_money(max_balance())} (the most your wallet holds) "
            "minus the amount."
        )

    def clean_auto_recharge_threshold(self):
        value = self.cleaned_data["auto_recharge_threshold"]
        if value is not None and value < 0:
            raise forms.ValidationError("The threshold must be 0 or more.")
        return value

    def clean_auto_recharge_amount(self):
        value = self.cleaned_data["auto_recharge_amount"]
        if value is None:
            return value
        if value <= 0:
            raise forms.ValidationError("The amount must be greater than zero.")
        low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
        if not low <= value <= high:
            raise forms.ValidationError(
                f"The amount must be between {format_money(low)} and {format_money(high)}."
            )
        return value

    def _positive_or_blank(self, name, what):
        value = self.cleaned_data[name]
        if value is not None and value <= 0:
            raise forms.ValidationError(f"The {what} must be greater than zero, or blank.")
        return value

    def clean_auto_recharge_monthly_limit(self):
        return self._positive_or_blank("auto_recharge_monthly_limit", "monthly cap")

    def clean_low_balance_alert(self):
        return self._positive_or_blank("low_balance_alert", "alert")

    def clean_monthly_spend_limit(self):
        return self._positive_or_blank("monthly_spend_limit", "spend limit")

    def clean(self):
        data = super().clean() or {}
        if data.get("auto_recharge_enabled"):
            if not self.has_card:
                self.add_error(
                    "auto_recharge_enabled",
                    "Save a card first: top up once with "
                    "\u201cSave this card for automatic top-ups\u201d ticked.",
                )
            elif not self.chosen_card:
                self.add_error(
                    "auto_recharge_enabled",
                    "Choose the card for automatic top-ups first: "
                    "\u201cUse for automatic top-ups\u201d next to one of your saved cards.",
                )
            if data.get("auto_recharge_threshold") is None and "auto_recharge_threshold" not in self.errors:
                self.add_error("auto_recharge_threshold", "Enter the balance below which to top up.")
            if data.get("auto_recharge_amount") is None and "auto_recharge_amount" not in self.errors:
                self.add_error("auto_recharge_amount", "Enter the amount to add.")
            refusals = billing.recharge_value_errors(
                threshold=data.get("auto_recharge_threshold"), amount=data.get("auto_recharge_amount"),
                monthly_limit=data.get("auto_recharge_monthly_limit"),
            )
            for name, message in refusals.items():
                if name not in self.errors:
                    self.add_error(name, message)
        return data


FIELDS = list(BillingSettingsForm.base_fields)


def _cards(user, billing_settings: BillingSettings):
    """(cards for the page, error text). The chosen card is shown as chosen, never changed here."""
    try:
        cards = billing.saved_cards(user=user)
    except WalletError:
        logger.warning("saved cards of user %s could not be listed", user.pk)
        return [], CARDS_UNAVAILABLE
    today = timezone.localdate()
    return [
        {"card": card, "expired": card.is_expired(today),
         "is_auto": card.id == billing_settings.auto_recharge_payment_method}
        for card in cards
    ], ""


AUTO_RECHARGE_FIELDS = (
    "auto_recharge_enabled", "auto_recharge_threshold", "auto_recharge_amount", "auto_recharge_monthly_limit"
)


def _initial(billing_settings) -> dict:
    return {name: getattr(billing_settings, name) for name in FIELDS}


def _freeze_auto_recharge_if_held(user, form) -> None:
    """Issue 20: a held account is never charged automatically (the recharge task refuses it): its
    auto-recharge fields are shown as they are but not editable, and a post keeps them as they were
    (a disabled field's value is its initial one), while alerts and limits still save."""
    if user.is_on_hold:
        for name in AUTO_RECHARGE_FIELDS:
            form.fields[name].disabled = True


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request):
    """Billing settings: saved cards, auto-recharge, low-balance alert, monthly spend limit."""
    billing_settings = billing.settings_for(request.user.pk)
    cards, cards_error = _cards(request.user, billing_settings)
    has_card = any(not c["expired"] for c in cards)
    # Auto-recharge charges the chosen card only: with cards but none chosen, it cannot be turned on.
    chosen = any(c["is_auto"] and not c["expired"] for c in cards)
    if request.method == "POST":
        known = bool(cards_error and billing_settings.auto_recharge_payment_method)
        form = BillingSettingsForm(request.POST, has_card=has_card or known, chosen_card=chosen or known,
                                   initial=_initial(billing_settings))
        _freeze_auto_recharge_if_held(request.user, form)
        if form.is_valid():
            values = {name: form.cleaned_data[name] for name in FIELDS}
            billing.save_settings(user=request.user, values=values)
            messages.success(request, "Your billing settings were saved.")
            return redirect("wallet:settings")
        status = 400
    else:
        form = BillingSettingsForm(initial=_initial(billing_settings), has_card=has_card)
        _freeze_auto_recharge_if_held(request.user, form)
        status = 200
    context = {
        "form": form,
        "billing": billing_settings,
        "cards": cards,
        "cards_error": cards_error,
        "spent": billing.month_spent(user_id=request.user.pk),
        "recharged": billing.recharged_this_month(request.user.pk),
        # Paused or backing off after a failure: only the explicit resume below re-arms it.
        "backing_off": billing.is_backing_off(billing_settings),
        "automatic_topups": TopUp.objects.filter(user=request.user, is_automatic=True)[:5],
    }
    return render(request, "wallet/settings.html", context, status=status)


def _card_refusal(exc: WalletError, unavailable: str) -> str:
    """What a refused card action says: the error's own message for a card that is not the user's;
    `unavailable` when Stripe could not be asked (its errors speak of payments, not saved cards)."""
    return exc.user_message if isinstance(exc, billing.CardNotFound) else unavailable


@require_POST
@login_required
def remove_card(request, payment_method):
    """Remove a saved card (detached at Stripe). The card automatic top-ups use asks first."""
    confirmed = request.POST.get("confirm") == "yes"
    try:
        billing.remove_card(user=request.user, payment_method=payment_method, confirmed=confirmed)
    except card_service.ConfirmRemoval as exc:
        card = next((c for c in billing.saved_cards(user=request.user) if c.id == payment_method), None)
        return render(request, "wallet/settings_remove_card.html",
                      {"card": card, "payment_method": payment_method, "message": exc.user_message})
    except WalletError as exc:
        messages.error(request, _card_refusal(exc, CARD_NOT_REMOVED))
    else:
        if confirmed:
            messages.success(request, "The card was removed. Automatic top-ups are off until you choose "
                                      "another card and turn them on again.")
        else:
            messages.success(request, "The card was removed.")
    return redirect("wallet:settings")


@require_POST
@login_required
def resume_auto_recharge(request):
    """The explicit "resume" after failed automatic top-ups (a save of the settings never does it)."""
    billing.resume_auto_recharge(user=request.user)
    messages.success(request, "Automatic top-ups are back on.")
    return redirect("wallet:settings")


@require_POST
@login_required
def use_card(request, payment_method):
    """Make one of the user's saved cards the one automatic top-ups charge."""
    try:
        billing.use_card(user=request.user, payment_method=payment_method)
    except WalletError as exc:
        messages.error(request, _card_refusal(exc, CARDS_UNAVAILABLE))
    else:
        messages.success(request, "Automatic top-ups will use this card.")
    return redirect("wallet:settings")
