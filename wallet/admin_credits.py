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
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

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


LATEST_LOTS = 20


def lots_table(user) -> str:
    """An account's newest lots as a read-only table for its admin page (one query). A table, not
    an inline: an inline adds a formset to the user form, and its rows must never be edited."""
    rows = list(CreditLot.objects.filter(user=user).order_by("-created_at", "-id")[:LATEST_LOTS])
    if not rows:
        return "No credit lots yet."
    now = timezone.now()
    body = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>',
        (
            (
                date_format(timezone.localtime(lot.created_at), "j M Y, H:i"),
                lot.get_kind_display(),
                lot.get_source_display(),
                format_money(lot.amount),
                format_money(lot.remaining),
                "never" if lot.expires_at is None else (
                    ("expired " if lot.expires_at <= now else "")
                    + date_format(timezone.localtime(lot.expires_at), "j M Y, H:i")
                ),
            )
            for lot in rows
        ),
    )
    return format_html(
        '<table class="ledger-mini" id="credit-lots"><thead><tr><th>Created</th><th>Kind</th><th>Source</th>'
        "<th>Amount</th><th>Left</th><th>Expires</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


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
