"""A failed automatic top-up's consequences, written in the transaction that marks it failed (issue 18).

Whoever marks an automatic TopUp failed or canceled (the recharge task, reconciliation, a webhook
through settle_topup) holds the user's row lock and the TopUp's, and calls `record_failure` before
committing. So the one-in-flight slot is freed in the same commit that starts the back-off and
counts the failure: a second delivery of the recharge task sees one or the other, never a gap
between them (the race of item 12), and a failure settled later counts like any other (item 13).
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from ..emails import AUTO_RECHARGE_FAILED, AUTO_RECHARGE_PAUSED, enqueue_email
from ..models import BillingSettings, TopUp
from ..money import format_money

logger = logging.getLogger(__name__)

FAILED_STATUSES = (TopUp.Status.FAILED, TopUp.Status.CANCELED)


def clear_back_off(billing: BillingSettings) -> None:
    """Forget the failures, the back-off and the pause (the caller saves `billing`, under the user
    lock): only the person's explicit resume or their choice of another card does this."""
    billing.auto_recharge_paused_at = None
    billing.auto_recharge_failures = 0
    billing.auto_recharge_retry_after = None
    billing.auto_recharge_notice = ""


def record_failure(*, topup: TopUp) -> None:
    """Back off, count the failure, pause after AUTO_RECHARGE_MAX_FAILURES, and email (on commit).

    Call inside the transaction that moved `topup` (automatic) to failed or canceled, after locking
    the user's row (the lock order: user, then what hangs off it)."""
    if not topup.is_automatic:
        return
    now = timezone.now()
    billing = BillingSettings.objects.select_for_update().filter(pk=topup.user_id).first()
    if billing is None:
        return
    billing.auto_recharge_failures += 1
    billing.auto_recharge_retry_after = now + settings.AUTO_RECHARGE_BACKOFF
    billing.auto_recharge_notice = (
        f"The automatic top-up of {format_money(topup.amount)} on "
        f"{date_format(timezone.localtime(now), 'j M Y')} "
        f"failed: {topup.failure_reason or 'the payment was not completed.'}"
    )[:255]
    pause = billing.auto_recharge_failures >= settings.AUTO_RECHARGE_MAX_FAILURES
    if pause and billing.auto_recharge_paused_at is None:
        billing.auto_recharge_paused_at = now
        key = f"{billing.user_id}:{int(now.timestamp())}"
        transaction.on_commit(partial(enqueue_email, AUTO_RECHARGE_PAUSED, key))
    else:
        transaction.on_commit(partial(enqueue_email, AUTO_RECHARGE_FAILED, topup.pk))
    billing.save()
    logger.info("auto-recharge %s of user %s failed (%s in a row)", topup.pk, topup.user_id,
                billing.auto_recharge_failures)
