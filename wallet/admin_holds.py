"""Hold and release an account from its page in the user admin (issue 20).

A page with the reason (the customer reads it on every page while held) that calls
services.holds, which checks the staff member's wallet.hold_account permission and writes the
audit row. Nothing here writes the user row itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .models import AccountHoldEvent
from .services import holds

RELEASE_HELP = "Why it is released: kept in the audit log, not shown to the customer."


class HoldForm(forms.Form):
    reason = forms.CharField(
        max_length=holds.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="On hold, the customer reads this on every page: write it for them. Kept in the audit log.",
    )
    # What the page offered (the state it was drawn in), done as asked: a double-clicked release, or a
    # hold sent as a dispute held the account, must not flip the account the other way.
    action = forms.ChoiceField(choices=[("hold", "hold"), ("release", "release")], widget=forms.HiddenInput)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class HoldAdminMixin:
    """For the user admin: the "Hold account" / "Release account" page."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.hold_view)  # type: ignore[attr-defined]
        hold = path("<int:user_id>/hold/", view, name="authentication_user_hold")
        return [hold, *super().get_urls()]  # type: ignore[misc]

    def hold_view(self, request, user_id):
        if not request.user.has_perm(holds.HOLD_PERMISSION):
            raise PermissionDenied
        target = get_object_or_404(get_user_model(), pk=user_id)
        change_url = reverse("admin:authentication_user_change", args=[target.pk])
        releasing = target.is_on_hold
        form = HoldForm(request.POST or None, initial={"action": "release" if releasing else "hold"})
        if releasing:
            form.fields["reason"].help_text = RELEASE_HELP
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            releasing = form.cleaned_data["action"] == "release"
            try:
                if releasing:
                    done = holds.release_account(user=target, reason=reason, staff=request.user)
                else:
                    done = holds.hold_account(user=target, reason=reason, staff=request.user)
            except holds.HoldNotAllowed as exc:
                messages.error(request, exc.user_message)
            else:
                verb = "released" if releasing else "put on hold"
                if done:
                    messages.success(request, f"{target.email} was {verb}.")
                else:
                    messages.warning(request, f"{target.email} was already {verb}; nothing changed.")
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"{'Release' if releasing else 'Hold'} account: {target.email}",
            "opts": self.opts,  # type: ignore[attr-defined]
            "original": target, "target": target, "form": form, "releasing": releasing,
            "change_url": change_url,
            "history": AccountHoldEvent.objects.filter(user=target).select_related("staff")[:20],
        }
        return TemplateResponse(request, "admin/authentication/user/hold.html", context)
