"""Credit lots in the admin (issue 23): each account's lots, the "Grant credit" page, promo codes.

Grants go through services.credits.grant (a ledger row with the staff member and the reason, the
audit trail of adjustments); lots and redemptions are read-only here: only the ledger writes them.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from .exceptions import BalanceLimitExceeded, InvalidAmount
from .models import CreditLot, PromoCode, PromoRedemption
from .money import AmountField, format_money
from .services import credits

# Who may grant credit: the same permission as a balance adjustment.
GRANT_PERMISSION = "wallet.add_wallettransaction"


class GrantForm(forms.Form):
    amount = AmountField(label="Amount", help_text="Promotional credit, spent before paid money.")
    reason = forms.CharField(
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Stored on the ledger entry; the customer reads it in their history.",
    )
    valid_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=3650,
        required=False,
        initial=90,
        help_text="Empty: the credit never expires.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class GrantAdminMixin:
    """For the user admin: the "Grant credit" page."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.grant_view)  # type: ignore[attr-defined]
        grant = path("<int:user_id>/grant-credit/", view, name="authentication_user_grant_credit")
        return [grant, *super().get_urls()]  # type: ignore[misc]

    def grant_view(self, request, user_id):
        if not request.user.has_perm(GRANT_PERMISSION):
            raise PermissionDenied
        target = get_object_or_404(get_user_model(), pk=user_id)
        change_url = reverse("admin:authentication_user_change", args=[target.pk])
        form = GrantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            days = form.cleaned_data["valid_days"]
            expires_at = timezone.now() + timedelta(days=days) if days else None
            try:
                entry = credits.grant(
                    user=target,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    staff=request.user,
                    expires_at=expires_at,
                )
            except (BalanceLimitExceeded, InvalidAmount) as exc:
                messages.error(request, f"Not granted: {exc}")  # our own wording
            else:
                messages.success(
                    request,
                    f"Granted {format_money(entry.amount)} of promotional credit to {target.email}"
                    + (f", expiring {expires_at:%d %b %Y}" if expires_at else "")
                    + ".",
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Grant credit: {target.email}",
            "opts": self.opts,  # type: ignore[attr-defined]
            "original": target,
            "target": target,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/authentication/user/grant_credit.html", context)


class CreditLotInline(admin.TabularInline):
    """An account's lots on its admin page, newest first; read-only (the ledger writes them)."""

    model = CreditLot
    fk_name = "user"
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    fields = ["kind", "source", "amount", "remaining", "expires_at", "topup", "created_at"]
    readonly_fields = ["kind", "source", "amount", "remaining", "expires_at", "topup", "created_at"]
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RedemptionInline(admin.TabularInline):
    model = PromoRedemption
    extra = 0
    can_delete = False
    fields = ["user", "created_at"]
    readonly_fields = ["user", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PromoCode)
class PromoCodeAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "amount",
        "redemptions",
        "max_redemptions",
        "redeemable_until",
        "credit_valid_days",
        "new_accounts_only",
    ]
    search_fields = ["code"]
    readonly_fields = ["redemptions", "created_by", "created_at"]
    inlines = [RedemptionInline]

    def get_readonly_fields(self, request, obj=None):
        # Once redeemed, what a redemption gave is history: only the limits may still change.
        if obj is not None and obj.redemptions:
            return [*self.readonly_fields, "code", "amount", "credit_valid_days"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        obj.code = credits.normalize_code(obj.code)
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
