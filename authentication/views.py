import hashlib
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from netcop_hub import ratelimit
from netcop_hub.durations import in_words

from . import signals, verification
from .forms import (
    DisplayNameForm,
    EmailAuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    SignUpForm,
)

logger = logging.getLogger(__name__)


def signup(request):
    """Create an account and log the new user in."""
    if request.user.is_authenticated:
        return redirect("wallet:topup")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        verification.send_link(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if settings.TOPUP_REQUIRE_VERIFIED_EMAIL:
            messages.success(request, f"Welcome to NetCop Wallet! We sent a link to {user.email}: open it "
                                      "to confirm your address, then top up your wallet to use agents.")
        else:
            messages.success(request, "Welcome to NetCop Wallet! Top up your wallet to start using agents.")
        return redirect("wallet:topup")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request):
    """The account page: email, the display name (editable), links to change the password and log out."""
    form = DisplayNameForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.save(update_fields=["username", "updated_at"])
        messages.success(request, "Your display name was saved.")
        return redirect("authentication:account")
    return render(request, "registration/account.html", {"form": form})


class LoginView(auth_views.LoginView):
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        warning = last_attempt_warning(self.request, form.data.get("username", ""))
        return self.render_to_response(self.get_context_data(form=form, form_warning=warning))


def last_attempt_warning(request, username):
    """The warning for a log-in form whose next failure locks the (email, IP) pair, else ""."""
    if not settings.AXES_ENABLED or not username:
        return ""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.helpers import get_cool_off, get_failure_limit

    credentials = {"username": username}
    # django-axes counted this failure while the form was being cleaned.
    left = get_failure_limit(request, credentials) - AxesProxyHandler.get_failures(request, credentials)
    if left != 1:
        return ""
    cool_off = get_cool_off(request)
    pause = f" for {in_words(cool_off)}" if cool_off else ""
    return f"One more wrong password will pause log-ins to this account from your network{pause}."


class LogoutView(auth_views.LogoutView):
    """Log out (POST only) and say so on the next page."""

    def post(self, request, *args, **kwargs):
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            # The session is gone by now; the message travels in the messages cookie.
            messages.success(request, "You have been logged out.")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change the password and stay logged in; back to the account page with a confirmation."""

    form_class = PasswordChangeForm
    success_url = reverse_lazy("authentication:account")

    def form_valid(self, form):
        response = super().form_valid(form)
        tell_password_changed(form.user)
        messages.success(self.request, "Your password was changed. You are still logged in on this device.")
        return response


def tell_password_changed(user) -> None:
    """Tell the account's owner that its password changed (someone else may have done it), once the
    change is committed: the wallet's email task listens (authentication.signals.password_changed)."""
    transaction.on_commit(lambda: signals.password_changed.send(sender=type(user), user=user))


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset, limited per client IP and per target email (PASSWORD_RESET_RATE_LIMIT).

    Over the limit, no email is sent and the answer is the one an unknown address gets (the "done"
    page): a flood cannot fill a mailbox, and the answer tells nothing about which addresses exist.
    """

    form_class = PasswordResetForm
    success_url = reverse_lazy("authentication:password_reset_done")

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, link_lifetime=in_words(settings.PASSWORD_RESET_TIMEOUT))

    @property
    def extra_email_context(self):
        # The link goes to SITE_URL like every other email's, not to whatever Host the request named.
        return {"site_url": settings.SITE_URL}

    def form_valid(self, form):
        if self._over_limit(form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)

    def _over_limit(self, email: str) -> bool:
        if not getattr(settings, "RATE_LIMITS_ENABLED", True):
            return False
        rate = settings.PASSWORD_RESET_RATE_LIMIT
        if rate is None:
            return False
        # Both counters count every request, so neither can be reset by varying the other.
        email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        idents = [f"ip:{ratelimit.client_ip(self.request)}", f"email:{email_key}"]
        waits = [ratelimit.hit("password_reset", ident, rate) for ident in idents]
        if any(waits):
            logger.warning("password reset rate limit exceeded (%s)", ", ".join(
                ident for ident, wait in zip(idents, waits, strict=True) if wait
            ))
            return True
        return False


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    success_url = reverse_lazy("authentication:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        tell_password_changed(form.user)
        return response


def axes_username(request, credentials=None):
    """django-axes keys lockouts by the normalised email (log-in is case-insensitive)."""
    value = (credentials or {}).get("username") or request.POST.get("username", "")
    return value.strip().lower()
