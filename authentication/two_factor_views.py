"""Staff two-factor pages (issue 20): enrolment on first log-in, the code prompt on every log-in."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from netcop_hub import ratelimit

from . import two_factor

logger = logging.getLogger(__name__)

WRONG = "That code is not right. Check the time on your phone, and use the newest code."
LOCKED = "Too many wrong codes. For security, codes are paused; try again in {wait}."


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off",
                                      "spellcheck": "false", "autofocus": True}),
    )


def _next(request) -> str:
    """Where to go once verified: an address on this site (never one the client points elsewhere)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("admin:index")


def _staff_only(request):
    # Customers have no second factor to set up: their pages are elsewhere.
    return None if request.user.is_staff else redirect("wallet:topup")


def _locked(request, template: str, context: dict):
    wait = two_factor.locked_for(request.user)
    if not wait:
        return None
    logger.warning("two-factor codes paused for user %s", request.user.pk)
    form = CodeForm(request.POST)
    form.is_valid()  # bound and cleaned, so it can carry the error (the code is not checked)
    form.add_error(None, LOCKED.format(wait=ratelimit.wait_text(wait)))
    response = render(request, template, {**context, "form": form}, status=429)
    response["Retry-After"] = str(wait)
    return response


@login_required
def setup(request):
    """First log-in: show the secret (QR and text), confirm one code, then the recovery codes once."""
    if (refused := _staff_only(request)) is not None:
        return refused
    if two_factor.is_enrolled(request.user):
        # Enrolled already: a second authenticator only after this session has proved the first.
        if request.user.is_verified():
            return HttpResponseRedirect(_next(request))
        return redirect(f"{reverse('authentication:two_factor_verify')}?next={_next(request)}")
    device = two_factor.pending_device(request.user)
    context = {"next": _next(request), "secret": two_factor.secret_text(device),
               "otpauth_uri": device.config_url, "qr_svg": mark_safe(two_factor.qr_svg(device))}  # nosec B308 B703
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if (locked := _locked(request, "registration/two_factor_setup.html", context)) is not None:
            return locked
        if form.is_valid():
            confirmed = two_factor.confirm_enrolment(user=request.user, code=form.cleaned_data["code"])
            if confirmed is not None:
                device, codes = confirmed
                two_factor.mark_verified(request, device)
                logger.info("staff user %s enrolled an authenticator", request.user.pk)
                return render(request, "registration/two_factor_recovery_codes.html",
                              {"codes": codes, "next": context["next"]})
            form.add_error("code", WRONG)
    return render(request, "registration/two_factor_setup.html", {**context, "form": form})


@login_required
def verify(request):
    """Every staff log-in: a code from the authenticator app, or one recovery code."""
    if (refused := _staff_only(request)) is not None:
        return refused
    if not two_factor.is_enrolled(request.user):
        return redirect(f"{reverse('authentication:two_factor_setup')}?next={_next(request)}")
    if request.user.is_verified():
        return HttpResponseRedirect(_next(request))
    context = {"next": _next(request)}
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if (locked := _locked(request, "registration/two_factor_verify.html", context)) is not None:
            return locked
        if form.is_valid():
            proved = two_factor.check_code(user=request.user, code=form.cleaned_data["code"])
            if proved is not None:
                device, recovery = proved
                two_factor.mark_verified(request, device)
                if recovery:
                    left = two_factor.recovery_codes_left(request.user)
                    logger.warning("staff user %s used a recovery code (%s left)", request.user.pk, left)
                    messages.warning(request, f"You used a recovery code; {left} left. Each works once.")
                return HttpResponseRedirect(context["next"])
            form.add_error("code", WRONG)
    return render(request, "registration/two_factor_verify.html", {**context, "form": form})
