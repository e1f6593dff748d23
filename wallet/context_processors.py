from django.conf import settings

from . import services
from .models import BillingSettings


def wallet(request):
    """Currency and whether the payments backend is the sandbox, for every template (the balance
    comes with request.user), and whether auto-recharge is on (the nav then keeps its balance
    fresh: a recharge arrives by itself). The last is a callable: the template evaluates it (one
    query) only where it is used."""

    def auto_recharge_on() -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        return BillingSettings.objects.filter(
            pk=user.pk, auto_recharge_enabled=True, auto_recharge_paused_at__isnull=True
        ).exists()

    return {
        "WALLET_CURRENCY": settings.WALLET_CURRENCY,
        "payments_sandbox": services.browser_config().sandbox,
        "auto_recharge_on": auto_recharge_on,
    }
