"""The webhook endpoints page (/accounts/webhooks/): add, send a test event, rotate the secret,
enable/disable, remove, and each endpoint's delivery log (issue 21). Session pages with CSRF."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from netcop_hub.errors import DomainError

from . import webhooks
from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

LOG_SHOWN = 20
EVENT_CHOICES = [(e.value, e.label) for e in WebhookEvent if e != WebhookEvent.TEST]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL", max_length=500, help_text="An https:// address that accepts POST."
    )
    description = forms.CharField(label="Description (optional)", max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple,
        initial=[e for e, _ in EVENT_CHOICES],
    )


def _page(request, form, status=200):
    rows = [
        (endpoint, list(WebhookDelivery.objects.filter(endpoint=endpoint)[:LOG_SHOWN]))
        for endpoint in WebhookEndpoint.objects.filter(user=request.user)
    ]
    after = settings.WEBHOOK_DISABLE_AFTER
    days, rest = divmod(int(after.total_seconds()), 86400)
    hours = int(after.total_seconds()) // 3600
    disable_after = f"{days} day{'s' if days != 1 else ''}" if days and not rest else f"{hours} hours"
    context = {"form": form, "rows": rows, "disable_after": disable_after}
    return render(request, "api/webhooks.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def endpoints(request):
    if request.method == "GET":
        return _page(request, EndpointForm())
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        webhooks.add_endpoint(
            user=request.user, url=form.cleaned_data["url"], events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
        )
    except DomainError as exc:
        form.add_error("url", exc.user_message)
        return _page(request, form, status=400)
    messages.success(request, "Endpoint added. Send a test event to check your receiver.")
    return redirect("webhooks:list")


def _mine(request, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id, user=request.user)


@login_required
@require_POST
def action(request, endpoint_id: int, what: str):
    endpoint = _mine(request, endpoint_id)
    if what == "test":
        webhooks.emit(
            user_id=request.user.pk, event_type=WebhookEvent.TEST, endpoint_ids=[endpoint.pk],
            data={"message": "A test event from NetCop Wallet."},
        )
        messages.success(request, "Test event queued: its result appears in the log below.")
    elif what == "rotate":
        webhooks.rotate_secret(endpoint=endpoint)
        messages.success(request, "New secret created. The old one also signs for 24 hours.")
    elif what == "disable":
        webhooks.set_active(endpoint=endpoint, active=False)
        messages.success(request, "Endpoint disabled: no events are sent to it.")
    elif what == "enable":
        webhooks.set_active(endpoint=endpoint, active=True)
        messages.success(request, "Endpoint enabled.")
    elif what == "remove":
        webhooks.remove_endpoint(endpoint=endpoint)
        messages.success(request, "Endpoint removed.")
    else:
        messages.error(request, "Unknown action.")
    return redirect("webhooks:list")
