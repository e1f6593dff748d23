"""The wallet's part of the user admin: the balance column, the latest ledger entries and "Adjust balance".

Registered in place of authentication's UserAdmin (accounts sit below the wallet in the layer order, so
the wallet extends their admin, never the other way round). Everything about who may change whom stays
in authentication/admin.py and is inherited here.
"""

import secrets
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from authentication.admin import UserAdmin
from authentication.models import User

from . import services
from .admin_credits import GrantAdminMixin, lots_table
from .admin_holds import HoldAdminMixin
from .exceptions import BalanceLimitExceeded, InsufficientBalance, InvalidAmount
from .money import AmountField, format_money, format_signed_money

LATEST_ROWS = 20
# Who may move money by hand: the ledger's "add" permission (superusers have it implicitly).
ADJUST_PERMISSION = "wallet.add_wallettransaction"
ADJUST_SALT = "authentication.admin.adjust-balance"
ADJUST_TOKEN_MAX_AGE = 15 * 60


class AdjustBalanceForm(forms.Form):
    """A signed amount (positive credits, negative debits) and the reason, both required."""

    amount = AmountField(
        label="Amount",
        signed=True,
        help_text="Positive to credit the wallet, negative to debit it (e.g. 25.00 or -10.50).",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Stored on the ledger entry; the user sees it in their history.",
    )

    def __init__(self, *args, target, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = target

    def clean_amount(self):
        # Refused here, at the first step, what services.adjust would refuse at the last one.
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a non-zero amount.")
        balance = self.target.wallet_balance
        if balance + amount < 0:
            raise forms.ValidationError(
                f"The balance is {format_money(balance)}: at most {format_money(balance)} can be debited."
            )
        if amount > 0 and balance + amount > services.max_balance():
            raise forms.ValidationError(
                f"A wallet can hold at most {format_money(services.max_balance())}: at most "
                f"{format_money(services.room_for(balance))} can be credited."
            )
        return amount

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason



class WalletUserAdmin(GrantAdminMixin, HoldAdminMixin, UserAdmin):
    """The user admin with the wallet: read-only balance (it changes only through the ledger)."""

    list_display = ["email", "username", "balance", "is_staff", "joined"]
    readonly_fields = [
        "wallet_balance", "wallet_tools", "latest_transactions", "credit_lots", *UserAdmin.readonly_fields
    ]
    # mypy infers the base's fieldsets as a tuple of exactly four sections; this one has five.
    fieldsets = (  # type: ignore[assignment]
        *UserAdmin.fieldsets[:2],
        ("Wallet", {"fields": ("wallet_balance", "wallet_tools", "latest_transactions", "credit_lots")}),
        *UserAdmin.fieldsets[2:],
    )

    @admin.display(description="Balance", ordering="wallet_balance")
    def balance(self, obj):
        return format_money(obj.wallet_balance)

    # --- Wallet fields on the change page --------------------------------------------------------

    @admin.display(description="Ledger")
    def wallet_tools(self, obj):
        if not obj or not obj.pk:
            return "—"
        ledger = reverse("admin:wallet_wallettransaction_changelist") + f"?user__id__exact={obj.pk}"
        adjust = reverse("admin:authentication_user_adjust_balance", args=[obj.pk])
        hold = reverse("admin:authentication_user_hold", args=[obj.pk])
        return format_html(
            '<a href="{}" class="ledger-link">Full ledger</a> · '
            '<a href="{}" class="adjust-link">Adjust balance</a> · '
            '<a href="{}" class="grant-link">Grant credit</a> · '
            '<a href="{}" class="hold-link">{}</a>{}',
            ledger,
            adjust,
            reverse("admin:authentication_user_grant_credit", args=[obj.pk]),
            hold,
            "Release account" if obj.is_on_hold else "Hold account",
            format_html(" (on hold: {})", obj.hold_reason) if obj.is_on_hold else "",
        )

    @admin.display(description="Credit lots (issue 23, newest 20)")
    def credit_lots(self, obj):
        return lots_table(obj) if obj and obj.pk else "—"

    @admin.display(description=f"Latest {LATEST_ROWS} ledger entries")
    def latest_transactions(self, obj):
        # A read-only table rather than an inline: inlines cannot be limited to the newest N rows,
        # and a user with 100k entries must not render them all. One query.
        if not obj or not obj.pk:
            return "—"
        rows = list(
            obj.wallet_transactions.select_related("created_by").order_by("-created_at", "-id")[:LATEST_ROWS]
        )
        if not rows:
            return "No ledger entries yet."
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td>{}</td><td>{}</td><td><a href="{}">{}</a></td></tr>',
            (
                (
                    date_format(timezone.localtime(row.created_at), "j M Y, H:i"),
                    row.kind_label,
                    format_signed_money(row.amount),
                    format_money(row.balance_after),
                    row.description,
                    row.created_by or "",
                    reverse("admin:wallet_wallettransaction_change", args=[row.pk]),
                    str(row.pk)[:8],
                )
                for row in rows
            ),
        )
        return format_html(
            '<table class="ledger-mini" id="latest-transactions"><thead><tr><th>When</th>'
            "<th>Type</th><th>Amount</th><th>Balance after</th><th>Description</th><th>By</th>"
            "<th>Entry</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    # --- Adjust balance ----------------------------------------------------------------------

    def get_urls(self):
        adjust = path(
            "<int:user_id>/adjust-balance/",
            self.admin_site.admin_view(self.adjust_balance_view),
            name="authentication_user_adjust_balance",
        )
        return [adjust, *super().get_urls()]

    def adjust_balance_view(self, request, user_id):
        """Credit or debit a wallet by hand: form -> confirmation -> services.adjust.

        The confirmation carries the reviewed values in a signed, single-use token, so what is
        written is exactly what the staff member confirmed, and a double-submitted confirmation
        cannot adjust twice.
        """
        if not request.user.has_perm(ADJUST_PERMISSION):
            raise PermissionDenied
        target = get_object_or_404(User, pk=user_id)
        change_url = reverse("admin:authentication_user_change", args=[target.pk])
        form = AdjustBalanceForm(request.POST or None, target=target)
        stage = "form"
        token = None
        if request.method == "POST" and "confirm" in request.POST:
            return self._apply_adjustment(request, target, change_url)
        if request.method == "POST" and "edit" in request.POST:
            # "Change" on the confirmation: back to the form with what was typed, from the signed
            # token (so nothing is lost, and nothing unsigned is trusted).
            data = self._load_token(request, target)
            if data is None:
                return HttpResponseRedirect(request.path)
            form = AdjustBalanceForm(
                initial={"amount": data["amount"], "reason": data["reason"]}, target=target
            )
        elif request.method == "POST" and form.is_valid():
            stage = "confirm"
            token = signing.dumps(
                {
                    "user": target.pk,
                    "amount": str(form.cleaned_data["amount"]),
                    "reason": form.cleaned_data["reason"],
                    "nonce": secrets.token_urlsafe(16),
                },
                salt=ADJUST_SALT,
            )
        amount = form.cleaned_data.get("amount") if stage == "confirm" else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust balance: {target.email}",
            "opts": self.opts,
            "original": target,
            "target": target,
            "form": form,
            "stage": stage,
            "token": token,
            "amount": amount,
            "new_balance": target.wallet_balance + amount if amount is not None else None,
            "currency": settings.WALLET_CURRENCY,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/authentication/user/adjust_balance.html", context)

    def _load_token(self, request, target) -> dict | None:
        """The reviewed values from the confirmation's signed token; None (with a message) if unusable."""
        try:
            data = signing.loads(
                request.POST.get("token", ""), salt=ADJUST_SALT, max_age=ADJUST_TOKEN_MAX_AGE
            )
        except signing.BadSignature:  # also SignatureExpired
            messages.error(request, "This confirmation has expired or is invalid. Start again.")
            return None
        if data.get("user") != target.pk:
            messages.error(request, "This confirmation is for another user. Start again.")
            return None
        return data

    def _apply_adjustment(self, request, target, change_url):
        adjust_url = reverse("admin:authentication_user_adjust_balance", args=[target.pk])
        data = self._load_token(request, target)
        if data is None:
            return HttpResponseRedirect(adjust_url)
        # Single use: cache.add is atomic, so a second submit of the same page is refused.
        if not cache.add(f"wallet-adjust:{data['nonce']}", 1, ADJUST_TOKEN_MAX_AGE + 60):
            messages.warning(request, "This adjustment was already submitted; it was not applied again.")
            return HttpResponseRedirect(change_url)
        amount = Decimal(data["amount"])
        try:
            entry = services.adjust(user=target, amount=amount, reason=data["reason"], staff=request.user)
        except InsufficientBalance:
            target.refresh_from_db(fields=["wallet_balance"])
            messages.error(
                request,
                f"Not applied: debiting {format_money(abs(amount))} would take the balance below zero "
                f"(it is {format_money(target.wallet_balance)}).",
            )
            return HttpResponseRedirect(adjust_url)
        except BalanceLimitExceeded as exc:
            messages.error(request, f"Not applied: {exc}")  # our own text, written for staff
            return HttpResponseRedirect(adjust_url)
        except InvalidAmount:
            messages.error(request, "Not applied: enter a non-zero amount with at most two decimals.")
            return HttpResponseRedirect(adjust_url)
        verb = "Credited" if amount > 0 else "Debited"
        messages.success(
            request,
            f"{verb} {format_money(abs(amount))} {'to' if amount > 0 else 'from'} {target.email}. "
            f"New balance: {format_money(entry.balance_after)} (ledger entry {entry.pk}).",
        )
        return HttpResponseRedirect(change_url)


admin.site.unregister(User)
admin.site.register(User, WalletUserAdmin)
