from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from . import services
from .models import BillingSettings, OwedBalance
from .money import CENT


@dataclass(frozen=True)
class Standing:
    """Why an account may not move money now (issue 20), for the pages to say so before a click
    rather than after: the wallet, agent and billing pages show a panel instead of the action. The
    services still refuse on their own (wallet.services.holds); this only reads."""

    held: bool
    reason: str
    owed: Decimal

    @property
    def blocks_runs(self) -> bool:
        # A held account moves no money; one that owes runs nothing until a top-up repays it.
        return self.held or self.owed > 0


NO_STANDING_ISSUE = Standing(held=False, reason="", owed=Decimal("0.00"))


def standing(user) -> Standing:
    if user is None or not user.is_authenticated:
        return NO_STANDING_ISSUE
    owed = OwedBalance.objects.filter(user_id=user.pk).values_list("amount", flat=True).first()
    return Standing(held=user.is_on_hold, reason=user.hold_reason, owed=Decimal(owed or 0).quantize(CENT))


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

    user = getattr(request, "user", None)
    return {
        "WALLET_CURRENCY": settings.WALLET_CURRENCY,
        "payments_sandbox": services.browser_config().sandbox,
        "auto_recharge_on": auto_recharge_on,
        # Read (one query) only by the templates that use it.
        # (user: None on a request no middleware saw, e.g. some error pages)
        "standing": SimpleLazyObject(lambda: standing(user)),
    }
