"""Transaction history pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def history(request):
    """The user's ledger, newest first."""
    transactions = request.user.wallet_transactions.all()[:50]
    return render(request, "wallet/history.html", {"transactions": transactions})
