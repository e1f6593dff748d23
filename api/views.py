"""The API key page (/accounts/api-keys/) and the API's docs page (issue 21).

Session pages with CSRF, as every page: a key never works here. The key page lives in this app,
not in authentication, because it shows each key's spending this month, which the agents know."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.models import AgentRun
from authentication import api_keys
from authentication.models import ApiKey
from netcop_hub.errors import DomainError

from . import docs as docs_page
from .forms import ApiKeyForm


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    month_spent: Decimal
    is_expired: bool


def _month_spent_by_key(user) -> dict[int, Decimal]:
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        AgentRun.objects.filter(
            user=user, api_key__isnull=False, started_at__gte=start,
            charge_transaction__isnull=False, refund_transaction__isnull=True,
        )
        .values("api_key")
        .annotate(total=Sum("price"))
    )
    return {r["api_key"]: r["total"] for r in rows}


def _page(request, form, *, new_key=None, secret=None, status=200):
    keys = list(ApiKey.objects.filter(user=request.user))
    spent = _month_spent_by_key(request.user)
    now = timezone.now()
    active = [
        KeyRow(
            key=k, month_spent=spent.get(k.pk, Decimal("0.00")),
            is_expired=k.expires_at is not None and k.expires_at <= now,
        )
        for k in keys if not k.is_revoked
    ]
    revoked = [k for k in keys if k.is_revoked]
    context = {"form": form, "active": active, "revoked": revoked, "new_key": new_key, "secret": secret}
    return render(request, "api/keys.html", context, status=status)


@never_cache  # the answer to a creation carries the secret: never from a cache, never twice
@login_required
@require_http_methods(["GET", "POST"])
def keys(request):
    if request.method == "GET":
        return _page(request, ApiKeyForm())
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        key, secret = api_keys.create_key(
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.expires_at(),
            monthly_cap=form.cleaned_data.get("monthly_cap"),
        )
    except DomainError as exc:
        form.add_error(None, exc.user_message)
        return _page(request, form, status=400)
    # Rendered, not redirected: the secret is never put in the session or a URL.
    return _page(request, ApiKeyForm(), new_key=key, secret=secret)


@login_required
@require_POST
def revoke(request, key_id: int):
    try:
        key = api_keys.revoke(user=request.user, key_id=key_id)
    except DomainError as exc:
        messages.error(request, exc.user_message)
    else:
        messages.success(request, f"Key “{key.name}” revoked: it no longer works.")
    return redirect("api_keys:list")


@require_GET
def docs(request):
    """The API reference, rendered by our own script from /api/v1/openapi.json (the CSP forbids CDNs)."""
    return render(request, "api/docs.html", docs_page.context())


