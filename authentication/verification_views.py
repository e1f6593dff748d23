"""The verification link's page and "send the link again" (issue 20)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from netcop_hub import ratelimit
from netcop_hub.durations import in_words

from . import verification

logger = logging.getLogger(__name__)

SENT = "We sent a new confirmation link to {email}. It works for {lifetime}."
ALREADY = "Your email address is already confirmed."


@require_GET
def verify_email(request, token: str):
    """Opening the emailed link confirms the address (logged in or not: the link is the proof)."""
    try:
        user = verification.confirm(token)
    except verification.LinkExpired:
        return render(request, "registration/verify_email.html", {"outcome": "expired"}, status=400)
    except verification.LinkInvalid:
        return render(request, "registration/verify_email.html", {"outcome": "invalid"}, status=400)
    same = request.user.is_authenticated and request.user.pk == user.pk
    return render(request, "registration/verify_email.html", {"outcome": "confirmed", "email": user.email,
                                                              "same_user": same})


def _next_page(request) -> str:
    # Only our own two pages that show the notice: never an address the client names.
    return "authentication:account" if request.POST.get("from") == "account" else "wallet:topup"


@require_POST
@login_required
def resend_verification(request):
    """Send a new link (VERIFY_EMAIL_RATE_LIMIT per account: a button cannot flood a mailbox)."""
    user = request.user
    if user.email_verified:
        messages.info(request, ALREADY)
        return redirect(_next_page(request))
    rate = settings.VERIFY_EMAIL_RATE_LIMIT
    wait = ratelimit.hit("verify_email", f"user:{user.pk}", rate) if rate is not None else 0
    if wait:
        logger.warning("verification email rate limit reached by user %s", user.pk)
        messages.error(request, f"We already sent you several links. You can ask for another in "
                                f"{ratelimit.wait_text(wait)}; meanwhile, check your spam folder.")
        return redirect(_next_page(request))
    verification.send_link(user=user)
    messages.success(request, SENT.format(email=user.email,
                                          lifetime=in_words(settings.EMAIL_VERIFICATION_MAX_AGE)))
    return redirect(_next_page(request))
