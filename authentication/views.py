from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from .forms import EmailAuthenticationForm, SignUpForm


def signup(request):
    """Create an account and log the new user in."""
    if request.user.is_authenticated:
        return redirect("wallet:topup")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to NetCop Wallet! Top up your wallet to start using agents.")
        return redirect("wallet:topup")
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("authentication:password_change_done")


class PasswordResetView(auth_views.PasswordResetView):
    success_url = reverse_lazy("authentication:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("authentication:password_reset_complete")


def axes_username(request, credentials=None):
    """django-axes keys lockouts by the normalised email (log-in is case-insensitive)."""
    value = (credentials or {}).get("username") or request.POST.get("username", "")
    return value.strip().lower()
