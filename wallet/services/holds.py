"""Account holds (issue 20): the one writer of User.held_at / hold_reason, and the checks that every
money service makes before it moves a customer's money.

A held account can log in and read its history but cannot top up, run agents, use auto-recharge
or refund. Money already in flight finishes (settle_topup still credits). Each hold and release
writes an AccountHoldEvent, like adjustments write a ledger row with their staff member and reason.
An account that owes money (a dispute took more than its balance) cannot run agents or refund
either, with its own error; its next top-ups repay it (wallet.services.disputes).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ..exceptions import AccountOnHold, AccountOwesMoney, WalletError
from ..models import AccountHoldEvent
from ..money import CENT

logger = logging.getLogger(__name__)

HOLD_PERMISSION = "wallet.hold_account"
REASON_MAX = 300


class HoldNotAllowed(WalletError):
    """A hold or release that cannot be made (no permission, no reason)."""

    status = 403
    code = "hold_not_allowed"
    text_is_user_message = True


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise HoldNotAllowed("A reason is required to hold or release an account.")
    return reason[:REASON_MAX]


def _check_staff(staff) -> None:
    if staff is not None and not staff.has_perm(HOLD_PERMISSION):
        raise HoldNotAllowed("You do not have permission to hold or release accounts.")


def hold_account(*, user, reason: str, staff=None) -> bool:
    """Put an account on hold with a reason the customer reads. staff=None: the system (a dispute,
    an early fraud warning). Returns False when it was already on hold (the first reason stays)."""
    reason = _clean_reason(reason)
    _check_staff(staff)
    user_id = getattr(user, "pk", user)
    with transaction.atomic():
        # held_at/hold_reason are never written by User.save() (SERVICE_OWNED_FIELDS): .update() only.
        changed = get_user_model().objects.filter(pk=user_id, held_at__isnull=True).update(
            held_at=timezone.now(), hold_reason=reason, updated_at=timezone.now()
        )
        if changed:
            AccountHoldEvent.objects.create(
                user_id=user_id, action=AccountHoldEvent.Action.HOLD, reason=reason, staff=staff
            )
    if changed:
        logger.warning("account %s put on hold by %s: %s", user_id, staff or "the system", reason)
    return bool(changed)


def release_account(*, user, reason: str, staff) -> bool:
    """Release a held account (staff only, with a reason). Returns False when it was not on hold."""
    reason = _clean_reason(reason)
    if staff is None:
        raise HoldNotAllowed("Only a staff member can release an account.")
    _check_staff(staff)
    user_id = getattr(user, "pk", user)
    with transaction.atomic():
        changed = get_user_model().objects.filter(pk=user_id, held_at__isnull=False).update(
            held_at=None, hold_reason="", updated_at=timezone.now()
        )
        if changed:
            AccountHoldEvent.objects.create(
                user_id=user_id, action=AccountHoldEvent.Action.RELEASE, reason=reason, staff=staff
            )
    if changed:
        logger.warning("account %s released by %s: %s", user_id, staff, reason)
    return bool(changed)


def _on_hold_error(reason: str) -> AccountOnHold:
    message = AccountOnHold.default_message
    if reason:
        reason = reason.strip()
        reason = reason if reason.endswith((".", "!", "?")) else reason + "."
        message = (
            f"Your account is on hold. {reason} Payments and agent runs are paused until our team "
            "has reviewed it; contact us by replying to any of our emails."
        )
    return AccountOnHold(user_message=message)


def ensure_not_held(*, user) -> None:
    """AccountOnHold if the account is on hold (read from the database, not a possibly stale user)."""
    user_id = getattr(user, "pk", user)
    row = get_user_model().objects.filter(pk=user_id).values_list("held_at", "hold_reason").first()
    if row is not None and row[0] is not None:
        raise _on_hold_error(row[1])


def ensure_can_spend(*, user) -> None:
    """Before an agent run or a refund: AccountOnHold if held, AccountOwesMoney if it owes (one query)."""
    user_id = getattr(user, "pk", user)
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .values_list("held_at", "hold_reason", "owed_balance__amount")
        .first()
    )
    if row is None:
        return
    held_at, reason, owed = row
    if held_at is not None:
        raise _on_hold_error(reason)
    if owed is not None and Decimal(owed).quantize(CENT) > 0:
        raise AccountOwesMoney(owed=Decimal(owed).quantize(CENT))
