"""The wallet page's promo-code form (issue 23): redeem, then back to the wallet with a message.

A plain form POST (CSRF, signed-in user, PROMO_REDEEM_RATE_LIMIT per account): works without
JavaScript, and a refresh of the answer page cannot redeem twice (a redirect; redeeming is
idempotent anyway).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from .exceptions import AccountOnHold, BalanceLimitExceeded, PromoCodeRefused
from .money import format_money
from .services import credits


@require_POST
@login_required
def redeem_promo(request):
    try:
        result = credits.redeem_code(user=request.user, code=request.POST.get("code", "")[:60])
    except (PromoCodeRefused, AccountOnHold, BalanceLimitExceeded) as exc:
        messages.error(request, exc.user_message)
    else:
        lot = result.redemption.lot
        when = timezone.localtime(lot.expires_at) if lot.expires_at else None
        until = f" It expires on {when.day} {when:%b %Y}." if when else ""
        if result.created:
            messages.success(
                request, f"{format_money(lot.amount)} of promotional credit added to your wallet.{until}"
            )
        else:
            messages.info(request, "You have already redeemed this code; it was not added again.")
    return redirect("wallet:topup")
