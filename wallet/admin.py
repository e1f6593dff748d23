"""The wallet in the Django admin: a read-only ledger with totals, payment records, ledger health.

Nothing here writes money. Balances change only through wallet.services (the "Adjust balance"
page lives on the user admin, wallet/user_admin.py, and calls services.adjust).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from . import user_admin  # noqa: F401 - registers the user admin with its wallet part
from .admin_actions import reconcile_with_stripe, refund_to_card
from .admin_base import ReadOnlyAdmin, short_datetime
from .exceptions import PaymentProviderError, PaymentProviderUnavailable
from .health import check_ledger, money_totals
from .models import BillingSettings, CardRefund, StripeEvent, TopUp, WalletTransaction
from .money import format_money, format_signed_money
from .services.cards import SavedCard, saved_cards

CENT = Decimal("0.01")
HEALTH_MISMATCHES_SHOWN = 200


def _money(value) -> Decimal:
    # SQLite sums NUMERIC as REAL: quantize every aggregate before showing it.
    return Decimal(value or 0).quantize(CENT)


class SearchByIdsMixin(admin.ModelAdmin):
    """Search also matches a pasted UUID primary key or a Stripe id exactly (indexed lookups)."""

    exact_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        exact = Q()
        for name in self.exact_search_fields:
            exact |= Q(**{name: term})
        try:
            exact |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass
        if exact:
            results = results | queryset.filter(exact)
        return results, may_have_duplicates


@admin.register(WalletTransaction)
class WalletTransactionAdmin(SearchByIdsMixin, ReadOnlyAdmin):
    """The ledger: read-only for everyone, with totals for whatever the filters select."""

    read_only_reason = (
        "Ledger entries cannot be changed or deleted; make an adjustment instead "
        "(Adjust balance, on the user's page)."
    )

    # Readable at 1280 px beside the sidebar and filters: ids and staff live on the entry's page.
    list_display = ["when", "user_link", "type", "signed_amount", "balance_after_money", "short_description"]
    list_filter = ["type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__email"]
    exact_search_fields = ("stripe_payment_intent_id",)
    search_help_text = "Email (or part of it), a transaction id, or a Stripe PaymentIntent id (pi_...)."
    list_select_related = ["user", "created_by"]
    list_per_page = 100
    # The unfiltered COUNT(*) over the whole ledger is the slow part of a big changelist.
    show_full_result_count = False
    ordering = ["-created_at", "-id"]
    fields = [
        "id",
        "user",
        "type",
        "signed_amount",  # "−5.00 AED", as everywhere else, not the raw "-5.00"
        "balance_after_money",
        "description",
        "stripe_payment_intent_id",
        "created_by",
        "created_at",
    ]
    readonly_fields = ["signed_amount", "balance_after_money"]

    @admin.display(description="User", ordering="user__email")
    def user_link(self, obj):
        url = reverse("admin:authentication_user_change", args=[obj.user_id])
        return format_html('<a href="{}">{}</a>', url, obj.user.email)

    @admin.display(description="Amount", ordering="amount")
    def signed_amount(self, obj):
        return format_signed_money(obj.amount)

    @admin.display(description="Balance after", ordering="balance_after")
    def balance_after_money(self, obj):
        return format_money(obj.balance_after)

    @admin.display(description="Description", ordering="description")
    def short_description(self, obj):
        return Truncator(obj.description).chars(48)

    def get_urls(self):
        health = path(
            "health/",
            self.admin_site.admin_view(self.ledger_health_view),
            name="wallet_ledger_health",
        )
        return [health, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "ledger_health_url": reverse("admin:wallet_ledger_health"),
        }
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if not context or "cl" not in context:
            return response  # a redirect (e.g. a bad filter in the URL): nothing to total
        # The changelist's queryset is exactly the filtered (and searched) set, before paging.
        totals = (
            context["cl"]
            .queryset.order_by()
            .aggregate(
                rows=Count("pk"),
                net=Sum("amount"),
                credits=Sum("amount", filter=Q(amount__gt=0)),
                debits=Sum("amount", filter=Q(amount__lt=0)),
            )
        )
        context["ledger_totals"] = {
            "rows": totals["rows"],
            "net": _money(totals["net"]),
            "credits": _money(totals["credits"]),
            "debits": _money(totals["debits"]),
        }
        return response

    def ledger_health_view(self, request):
        """Run check_ledger() (balance == sum of rows == latest balance_after) and show it."""
        # It lists every user's balance: the ledger's view permission, like the changelist.
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = check_ledger()
        context = {
            **self.admin_site.each_context(request),
            "title": "Ledger health",
            "opts": self.opts,
            "report": report,
            "mismatches": report.mismatches[:HEALTH_MISMATCHES_SHOWN],
            "more_mismatches": max(0, len(report.mismatches) - HEALTH_MISMATCHES_SHOWN),
            "difference": report.total_balance - report.total_ledger,
            "totals": money_totals(),  # issue 20: credits - refunds - spend + adjustments - disputes + won
        }
        return TemplateResponse(request, "admin/wallet/ledger_health.html", context)


@admin.register(TopUp)
class TopUpAdmin(SearchByIdsMixin, ReadOnlyAdmin):
    """Card payment attempts. Read-only: their state follows Stripe through wallet.services."""

    read_only_reason = (
        "Top-ups follow Stripe and cannot be edited here; use the Reconcile with Stripe or "
        "Refund to card actions on the list."
    )

    list_display = ["when", "user", "amount_with_currency", "status", "is_automatic", "credit_link"]
    list_filter = ["status", "is_automatic", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__email"]
    exact_search_fields = ("stripe_payment_intent_id", "idempotency_key")
    search_help_text = "Email, top-up id or Stripe PaymentIntent id."
    list_select_related = ["user"]
    actions = [reconcile_with_stripe, refund_to_card]
    show_full_result_count = False
    ordering = ["-created_at"]
    readonly_fields = ["refunds_list"]

    @admin.display(description="Refunds to card")
    def refunds_list(self, obj):
        # One query; a top-up has a handful of refunds at most (each capped by the remainder).
        refunds = list(obj.refunds.select_related("requested_by").order_by("-created_at")) if obj else []
        if not refunds:
            return "None"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:wallet_cardrefund_change", args=[r.pk]),
                    date_format(timezone.localtime(r.created_at), "DATETIME_FORMAT"),
                    format_money(r.amount, obj.currency),
                    r.get_status_display(),
                    r.get_customer_reason_display() or "—",
                    r.reason,
                    r.requested_by or "—",
                )
                for r in refunds
            ),
        )
        return format_html(
            '<table id="topup-refunds"><thead><tr><th>Date</th><th>Amount</th><th>Status</th>'
            "<th>Customer reason</th><th>Internal note</th><th>By</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            rows,
        )

    @admin.display(description="Amount", ordering="amount")
    def amount_with_currency(self, obj):
        return format_money(obj.amount, obj.currency)

    @admin.display(description="Ledger entry")
    def credit_link(self, obj):
        if not obj.credit_transaction_id:
            return "—"
        url = reverse("admin:wallet_wallettransaction_change", args=[obj.credit_transaction_id])
        return format_html('<a href="{}" title="{}">View entry</a>', url, obj.credit_transaction_id)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """Webhook events as received (deduplicated by Stripe's event id)."""

    read_only_reason = "Stripe events are kept exactly as Stripe sent them and cannot be changed."

    list_display = ["id", "type", "received_at", "processed_at", "has_error"]
    list_filter = ["type", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "type"]
    show_full_result_count = False
    ordering = ["-received_at"]

    @admin.display(description="Error", boolean=True)
    def has_error(self, obj):
        return bool(obj.error)


@admin.register(CardRefund)
class CardRefundAdmin(SearchByIdsMixin, ReadOnlyAdmin):
    """Refunds of top-ups back to the card."""

    read_only_reason = (
        "Refunds cannot be changed here; start one with Refund to card on the top-ups list."
    )

    list_display = ["created_at", "topup", "amount_money", "status", "requested_by", "stripe_refund_id"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["topup__user__email"]
    exact_search_fields = ("stripe_refund_id", "topup__stripe_payment_intent_id")
    list_select_related = ["topup", "requested_by"]
    show_full_result_count = False
    ordering = ["-created_at"]

    @admin.display(description="Amount", ordering="amount")
    def amount_money(self, obj):
        return format_money(obj.amount, obj.topup.currency)


class RunawayFilter(admin.SimpleListFilter):
    """Users whose automatic top-ups in the last hour exceed AUTO_RECHARGE_RUNAWAY_PER_HOUR."""

    title = "automatic top-ups in the last hour"
    parameter_name = "runaway"

    def lookups(self, request, model_admin):
        return [("yes", f"More than {settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR} (runaway)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(recent_autos__gt=settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR)
        return queryset


@admin.register(BillingSettings)
class BillingSettingsAdmin(ReadOnlyAdmin):
    """Each user's saved-card and spending settings, with runaway auto-recharges flagged."""

    read_only_reason = "Billing settings are the customer's own: they change them on their settings page."
    list_display = [
        "user", "auto_recharge_enabled", "threshold_money", "amount_money", "monthly_cap", "state",
        "recent_automatic", "low_balance_alert", "monthly_spend_limit",
    ]
    list_filter = [
        RunawayFilter, "auto_recharge_enabled", ("auto_recharge_paused_at", admin.EmptyFieldListFilter)
    ]
    search_fields = ["user__email", "stripe_customer_id"]
    list_select_related = ["user"]
    ordering = ["user__email"]

    # The card is shown by brand and last 4 digits (asked of Stripe), not as a raw card_/pm_ id.
    exclude = ["auto_recharge_payment_method"]
    readonly_fields = ["auto_recharge_card"]

    def when(self, obj):  # no created_at here
        return short_datetime(obj.updated_at)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Stripe is asked here, before the admin opens the transaction it renders the page in, and
        # only for someone allowed to see the page (Django's own check comes later, inside it).
        billing = self.get_object(request, unquote(object_id))
        allowed = billing is not None and self.has_view_or_change_permission(request, billing)
        request.saved_cards = self._saved_cards(billing) if allowed else None
        return super().change_view(request, object_id, form_url, extra_context)

    def get_object(self, request, object_id, from_field=None):
        billing = super().get_object(request, object_id, from_field)
        if billing is not None:
            billing.saved_cards = getattr(request, "saved_cards", None)
        return billing

    @staticmethod
    def _saved_cards(billing) -> list[SavedCard] | None:
        """The customer's saved cards, or None when there is no card to describe or Stripe did not answer."""
        if not billing.auto_recharge_payment_method:
            return None
        try:
            return saved_cards(user=billing.user)
        except (PaymentProviderUnavailable, PaymentProviderError):
            return None

    @admin.display(description="Card for automatic top-ups")
    def auto_recharge_card(self, obj):
        payment_method = obj.auto_recharge_payment_method
        if not payment_method:
            return "—"
        cards = getattr(obj, "saved_cards", None)
        if cards is None:
            return f"Not known right now (Stripe did not answer): {payment_method}"
        card = next((card for card in cards if card.id == payment_method), None)
        if card is None:
            return f"No longer saved at Stripe: {payment_method}"
        return f"{card.brand.title()} ending {card.last4}, expires {card.exp_month:02d}/{card.exp_year}"

    def get_queryset(self, request):
        since = timezone.now() - timedelta(hours=1)
        recent = (
            TopUp.objects.filter(
                # Every attempt, failed ones too (issue 18): a declining card retried is a runaway.
                user_id=OuterRef("user_id"), is_automatic=True, created_at__gte=since,
            ).order_by().values("user_id").annotate(n=Count("id")).values("n")
        )
        return super().get_queryset(request).annotate(recent_autos=Coalesce(Subquery(recent), 0))

    @admin.display(description="Threshold")
    def threshold_money(self, obj):
        return format_money(obj.auto_recharge_threshold) if obj.auto_recharge_threshold is not None else "—"

    @admin.display(description="Recharge")
    def amount_money(self, obj):
        return format_money(obj.auto_recharge_amount) if obj.auto_recharge_amount is not None else "—"

    @admin.display(description="Monthly cap")
    def monthly_cap(self, obj):
        cap = obj.auto_recharge_monthly_limit
        return format_money(cap) if cap is not None else "No cap"

    @admin.display(description="State")
    def state(self, obj):
        if obj.auto_recharge_paused_at:
            return f"Paused after {obj.auto_recharge_failures} failures"
        if obj.auto_recharge_failures:
            return f"{obj.auto_recharge_failures} failure(s)"
        return "OK" if obj.auto_recharge_enabled else "—"

    @admin.display(description="Automatic top-ups, last hour", ordering="recent_autos")
    def recent_automatic(self, obj):
        if obj.recent_autos > settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR:
            return format_html('<strong class="errornote">{} (runaway)</strong>', obj.recent_autos)
        return obj.recent_autos


# Issue 20: disputes, early fraud warnings and account holds (their own module; registers on import).
from . import admin_disputes  # noqa: E402, F401
