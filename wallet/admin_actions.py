"""Admin actions on top-ups: reconcile with Stripe, and refund to the card.

They call wallet.reconcile / wallet.services only; nothing here writes money itself. Both are shown to
anyone who can view top-ups and check the real permission when run (the TopUp admin is read-only, so
Django's "change" gate would hide them from everyone).
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from . import services
from .exceptions import PaymentProviderUnavailable, WalletError
from .models import CardRefund, TopUp
from .money import CENT, AmountField, format_money
from .reconcile import reconcile_one

RECONCILE_AT_MOST = 50


@admin.action(description="Reconcile with Stripe", permissions=["view"])
def reconcile_with_stripe(modeladmin, request, queryset):
    """Read each selected top-up's intent from Stripe and settle, fail or cancel it."""
    if not request.user.has_perm("wallet.change_topup"):
        modeladmin.message_user(request, "You do not have permission to reconcile top-ups.", messages.ERROR)
        return None
    for topup in queryset.select_related("user").order_by("created_at")[:RECONCILE_AT_MOST]:
        try:
            outcome = reconcile_one(topup)
        except PaymentProviderUnavailable:
            text, level = "could not be checked: Stripe is unreachable. Try again later.", messages.ERROR
        except WalletError:
            text, level = "could not be checked: Stripe refused the request (see the log).", messages.ERROR
        else:
            topup.refresh_from_db()
            text, level = describe_outcome(topup, outcome)
        modeladmin.message_user(request, f"{topup_label(topup)} {text}", level)
    if queryset.count() > RECONCILE_AT_MOST:
        modeladmin.message_user(
            request, f"Only the first {RECONCILE_AT_MOST} were reconciled; run it again for the rest.",
            messages.WARNING,
        )
    return None


def topup_label(topup: TopUp) -> str:
    """How staff recognise a top-up in a message: "75.50 AED from x@example.com"."""
    return f"{topup.amount} {topup.currency} from {topup.user.email}"


def describe_outcome(topup: TopUp, outcome) -> tuple[str, int]:
    """A reconcile outcome in words, and its message level: warning while a person may need to act."""
    intent = f" ({topup.stripe_payment_intent_id})" if topup.stripe_payment_intent_id else ""
    if not outcome.ok:
        return f"could not be settled{intent}; it needs a look (see the log).", messages.ERROR
    status = topup.status
    if outcome.action == "credited":
        return f"was credited to the wallet{intent}.", messages.SUCCESS
    if status == TopUp.Status.SUCCEEDED:
        return f"was already credited{intent}.", messages.INFO
    if status == TopUp.Status.FAILED:
        reason = f": {topup.failure_reason}" if topup.failure_reason else "."
        return f"is marked failed{intent}{reason}", messages.INFO
    if status == TopUp.Status.CANCELED:
        return f"is canceled{intent}; the customer never finished paying.", messages.INFO
    if status == TopUp.Status.REQUIRES_ACTION:
        return f"is still waiting for 3-D Secure{intent}.", messages.WARNING
    if not topup.stripe_payment_intent_id:
        return "has not reached Stripe yet; it stays pending.", messages.WARNING
    return f"is still pending at Stripe{intent}.", messages.WARNING


class RefundForm(forms.Form):
    """Amount, the reason the customer reads, and an internal note; checked against the caps."""

    amount = AmountField(min_value=CENT, help_text="The amount to send back to the card.")
    customer_reason = forms.ChoiceField(
        label="Reason for the customer",
        choices=[("", "Choose a reason…"), *CardRefund.CustomerReason.choices],
        help_text="Shown to the customer in their history and in the refund email.",
    )
    # Single-use key made when the page is rendered: a double submit cannot refund twice.
    request_key = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Internal note",
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For staff only: why, ticket number. The customer never sees it.",
    )

    def __init__(self, *args, remainder=None, balance=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.remainder, self.balance = remainder, balance

    def clean_amount(self):
        # Refused here, before the confirmation, what refund_topup would refuse (it checks again).
        amount = self.cleaned_data["amount"]
        if self.remainder is not None and amount > self.remainder:
            raise forms.ValidationError(
                f"At most {format_money(self.remainder)} of this top-up can still be refunded."
            )
        if self.balance is not None and amount > self.balance:
            raise forms.ValidationError(
                f"The wallet holds only {format_money(self.balance)}: a refund to the card cannot "
                "exceed the current balance."
            )
        return amount

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


@admin.action(description="Refund to card", permissions=["view"])
def refund_to_card(modeladmin, request, queryset):
    """Form (amount, customer reason, internal note) -> confirmation -> services.refund_topup.

    Posts carry stage buttons: "review" shows the confirmation, "edit" goes back to the form with
    the values, "apply" refunds (validated again, and capped again by the service).
    """
    if not request.user.has_perm("wallet.add_cardrefund"):
        modeladmin.message_user(request, "You do not have permission to refund top-ups.", messages.ERROR)
        return None
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one top-up to refund.", messages.ERROR)
        return None
    topup = queryset.select_related("user").get()
    if topup.status != TopUp.Status.SUCCEEDED:
        modeladmin.message_user(request, "Only a succeeded top-up can be refunded.", messages.ERROR)
        return None
    remainder = services.refundable_amount(topup)
    balance = topup.user.wallet_balance
    stage = "form"
    if "apply" in request.POST or "review" in request.POST:
        form = RefundForm(request.POST, remainder=remainder, balance=balance)
        if form.is_valid() and "review" in request.POST:
            stage = "confirm"
        elif form.is_valid():
            try:
                refund = services.refund_topup(
                    topup=topup,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    customer_reason=form.cleaned_data["customer_reason"],
                    staff=request.user,
                    request_key=str(form.cleaned_data["request_key"]),
                )
            except services.RefundAlreadySubmitted:
                modeladmin.message_user(request, "This refund was already submitted.", messages.WARNING)
                return None
            except WalletError as exc:  # RefundNotAllowed / InvalidAmount: our own, user-facing text
                form.add_error(None, str(exc))
            else:
                _report_refund(modeladmin, request, refund)
                return None
    elif "edit" in request.POST:
        # Back from the confirmation: the form again, with what was typed (and the same key).
        form = RefundForm(
            initial={k: request.POST.get(k, "") for k in RefundForm.base_fields},
            remainder=remainder,
            balance=balance,
        )
    else:
        # Empty on purpose: the amount is a decision, not a default.
        form = RefundForm(initial={"request_key": uuid.uuid4()}, remainder=remainder, balance=balance)
    amount = form.cleaned_data["amount"] if stage == "confirm" else None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Confirm the refund to the card" if stage == "confirm" else "Refund a top-up to the card",
        "opts": modeladmin.model._meta,
        "topup": topup,
        "remainder": remainder,
        "balance": balance,
        "form": form,
        "stage": stage,
        "amount": amount,
        "balance_after": balance - amount if amount is not None else None,
        "remainder_after": remainder - amount if amount is not None else None,
        "customer_reason_label": (
            CardRefund.CustomerReason(form.cleaned_data["customer_reason"]).label
            if stage == "confirm"
            else ""
        ),
        "refunds": list(topup.refunds.select_related("requested_by").order_by("-created_at")),
        "action_name": "refund_to_card",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/wallet/topup/refund_confirmation.html", context)


def _report_refund(modeladmin, request, refund: CardRefund) -> None:
    if refund.status == CardRefund.Status.SUCCEEDED:
        modeladmin.message_user(
            request,
            f"Refunded {format_money(refund.amount, refund.topup.currency)} to the card "
            f"({refund.stripe_refund_id}); "
            "the wallet was debited.",
            messages.SUCCESS,
        )
    elif refund.status == CardRefund.Status.FAILED:
        modeladmin.message_user(
            request, "Stripe refused the refund; the wallet debit was reversed.", messages.ERROR
        )
    else:
        modeladmin.message_user(
            request,
            "Stripe could not be reached. The wallet was debited and the refund is pending: "
            "reconcile_topups will ask Stripe again (with the same idempotency key).",
            messages.WARNING,
        )
