"""An API key's own monthly spend cap (issue 21), checked in the charge's transaction."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from wallet.services import lock_user, to_money

from .exceptions import KeyCapReached
from .models import AgentRun


def key_month_spent(*, api_key_id) -> Decimal:
    """What runs through one API key cost this calendar month (TIME_ZONE): charged and not refunded."""
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = (
        AgentRun.objects.filter(
            api_key_id=api_key_id, started_at__gte=start,
            charge_transaction__isnull=False, refund_transaction__isnull=True,
        ).aggregate(total=Sum("price"))["total"]
    )
    return to_money(total or 0)


def check_key_cap(*, user_id, api_key, price: Decimal) -> None:
    """In the charge's transaction: refuse a run that would take the key past its monthly cap.
    Keys belong to one user, so the user's row lock (taken here, or already by check_spend_limit)
    serialises every charge through the key: parallel runs near the cap are counted one by one."""
    if api_key is None or api_key.monthly_cap is None:
        return
    lock_user(user_id)
    spent = key_month_spent(api_key_id=api_key.pk)
    if spent + price > api_key.monthly_cap:
        raise KeyCapReached(limit=api_key.monthly_cap, spent=spent)
