"""Disputes, early fraud warnings and account holds in the admin (issue 20).

Read-only records (written by wallet.services) plus one page that writes nothing itself: "Submit
evidence", which shows what Stripe asks for, filled from our records, lets ops edit it, and sends it
through services.dispute_evidence (the gateway). Holding and releasing accounts lives on the user
admin (wallet/admin_holds.py).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .admin_base import ReadOnlyAdmin, short_datetime
from .exceptions import PaymentProviderError, PaymentProviderUnavailable
from .models import AccountHoldEvent, Dispute, EarlyFraudWarning
from .money import format_money
from .services.dispute_evidence import EVIDENCE_FIELDS, collect_evidence, submit_evidence

EVIDENCE_PERMISSION = "wallet.change_dispute"


class EvidenceForm(forms.Form):
    """One text box per evidence field Stripe takes, prefilled from our records."""

    def __init__(self, *args, initial_evidence: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in EVIDENCE_FIELDS:
            self.fields[name] = forms.CharField(
                label=label, required=False, initial=initial_evidence.get(name, ""), max_length=20000,
                widget=forms.Textarea(attrs={
                    "rows": 6 if name == "access_activity_log" else 2,
                    "style": "width: 100%; max-width: 60rem; box-sizing: border-box",
                }),
            )
        self.fields["confirm"] = forms.BooleanField(
            label="I checked this evidence: submit it to the bank now (Stripe accepts one submission).",
        )


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    read_only_reason = "Disputes follow Stripe and cannot be edited here; use Submit evidence on a dispute."
    list_display = ["when", "user", "disputed", "taken", "owed", "status", "reason", "due", "evidence_sent"]
    list_filter = ["status", "reason"]
    search_fields = ["user__email", "stripe_dispute_id", "topup__stripe_payment_intent_id"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    readonly_fields = ["evidence_tools", "evidence_preview"]

    @admin.display(description="Disputed", ordering="disputed_amount")
    def disputed(self, obj):
        return format_money(obj.disputed_amount)

    @admin.display(description="Taken from balance")
    def taken(self, obj):
        return format_money(obj.taken_amount)

    @admin.display(description="Owed")
    def owed(self, obj):
        return format_money(obj.owed_amount)

    @admin.display(description="Evidence due", ordering="evidence_due_by")
    def due(self, obj):
        return short_datetime(obj.evidence_due_by)

    @admin.display(description="Evidence sent", boolean=True)
    def evidence_sent(self, obj):
        return obj.evidence_submitted_at is not None

    @admin.display(description="Evidence")
    def evidence_tools(self, obj):
        if obj.evidence_submitted_at:
            who = obj.evidence_submitted_by or "—"
            return f"Submitted on {short_datetime(obj.evidence_submitted_at)} by {who}."
        return format_html(
            '<a class="button" id="submit-evidence-link" href="{}">Review and submit evidence</a> '
            "(due {})",
            reverse("admin:wallet_dispute_evidence", args=[obj.pk]),
            short_datetime(obj.evidence_due_by),
        )

    # Long evidence lines (the purchase description, ids) wrap inside the change form's column
    # instead of running past its edge; the admin has no stylesheet of ours to put this in.
    WRAP = "white-space: pre-wrap; overflow-wrap: anywhere; margin: 0"

    @admin.display(description="What Stripe asks for, from our records")
    def evidence_preview(self, obj):
        rows = [(label, collect_evidence(obj).get(name, "")) for name, label in EVIDENCE_FIELDS]
        body = format_html_join(
            "", '<tr><th scope="row">{}</th><td><pre class="evidence" style="{}">{}</pre></td></tr>',
            [(label, self.WRAP, text) for label, text in rows],
        )
        return format_html('<table id="dispute-evidence"><tbody>{}</tbody></table>', body)

    def get_urls(self):
        evidence = path(
            "<uuid:dispute_id>/evidence/", self.admin_site.admin_view(self.evidence_view),
            name="wallet_dispute_evidence",
        )
        return [evidence, *super().get_urls()]

    def evidence_view(self, request, dispute_id):
        if not request.user.has_perm(EVIDENCE_PERMISSION):
            raise PermissionDenied
        dispute = get_object_or_404(Dispute.objects.select_related("user", "topup"), pk=dispute_id)
        change_url = reverse("admin:wallet_dispute_change", args=[dispute.pk])
        if dispute.evidence_submitted_at:
            messages.warning(request, "Evidence for this dispute was already submitted.")
            return HttpResponseRedirect(change_url)
        form = EvidenceForm(request.POST or None, initial_evidence=collect_evidence(dispute))
        if request.method == "POST" and form.is_valid():
            evidence = {name: form.cleaned_data[name] for name, _ in EVIDENCE_FIELDS}
            try:
                dispute = submit_evidence(dispute=dispute, evidence=evidence, staff=request.user)
            except PaymentProviderUnavailable:
                messages.error(request, "Stripe could not be reached; nothing was submitted. Try again.")
            except PaymentProviderError:
                messages.error(request, "Stripe refused the evidence (see the log); nothing was recorded.")
            else:
                status = dispute.get_status_display()
                messages.success(request, f"Evidence submitted to the bank. The dispute is now: {status}.")
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Submit evidence: dispute of {format_money(dispute.disputed_amount)}",
            "opts": self.opts, "original": dispute, "dispute": dispute, "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/wallet/dispute/evidence.html", context)


@admin.register(EarlyFraudWarning)
class EarlyFraudWarningAdmin(ReadOnlyAdmin):
    list_display = ["when", "stripe_warning_id", "topup", "fraud_type", "actionable", "outcome"]
    list_filter = ["actionable", "fraud_type"]
    search_fields = ["stripe_warning_id", "topup__user__email"]
    list_select_related = ["topup"]
    ordering = ["-created_at"]


@admin.register(AccountHoldEvent)
class AccountHoldEventAdmin(ReadOnlyAdmin):
    list_display = ["when", "user", "action", "reason", "staff"]
    list_filter = ["action"]
    search_fields = ["user__email"]
    list_select_related = ["user", "staff"]
    ordering = ["-created_at"]
