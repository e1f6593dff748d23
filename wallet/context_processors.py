from django.conf import settings


def wallet(request):
    """Currency and sandbox flag for every template (the balance comes with request.user)."""
    return {"WALLET_CURRENCY": settings.WALLET_CURRENCY, "STRIPE_SANDBOX": settings.STRIPE_SANDBOX}
