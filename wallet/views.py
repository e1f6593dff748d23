"""Wallet pages. Views are thin: parse, call a service, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def topup_page(request):
    """The wallet page: balance and (from the top-up issue) the card form."""
    return render(request, "wallet/topup.html")
