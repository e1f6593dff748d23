"""Billing settings, the low-balance alert and auto-recharge (issue 14); saved cards live in `cards`.

- on_balance_changed: a receiver of wallet.signals.balance_changed (connected in WalletConfig.ready),
  so it runs inside the balance change's transaction, under the user's row lock, and only for a
  watched balance (User.wallet_watched). It flips the low-balance flag (one email per crossing,
  however many debits race) and, after a debit below the threshold, enqueues the recharge task on
  commit. The ledger below knows nothing of it.
- run_auto_recharge: the task's body. Under the user lock it decides whether and how much to charge
  and records an automatic TopUp (the partial unique constraint allows one in flight per user);
  then the one charge-and-settle path (topups.charge_and_settle) charges the saved card off-session,
  outside any transaction, and settles through settle_topup like every other payment.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django_tasks import task

from .. import payments
from ..emails import (
    AUTO_RECHARGE_LIMIT,
    LOW_BALANCE,
    enqueue_email,
)
from ..exceptions import (
    InvalidAmount,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
    WalletError,
)
from ..models import BillingSettings, TopUp, TxType, WalletTransaction
from ..money import CENT, format_money
from ..signals import low_balance
from . import card_testing, ledger
from .cards import (  # noqa: F401 - the billing API callers know; cards own them
    CardNotFound,
    card_label,
    ensure_customer,
    remember_card,
    remove_card,
    saved_cards,
    settings_for,
    use_card,
)
from .recharge_failures import clear_back_off
from .topups import charge_and_settle, mark_topup, settle_topup

logger = logging.getLogger(__name__)

IN_FLIGHT = (TopUp.Status.PENDING, TopUp.Status.REQUIRES_ACTION)
# The ledger types of spending: only these trigger an automatic top-up.
RECHARGING_TYPES = frozenset({TxType.AGENT_USAGE})
NEEDS_YOU = "Your bank asks you to confirm this payment, which it cannot do while you are away."


def month_start(now=None):
    """The start of the current calendar month in TIME_ZONE (an aware datetime)."""
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spent(*, user_id, now=None) -> Decimal:
    """Money spent on agents this calendar month (TIME_ZONE), from the ledger: agent charges minus
    agent refunds written this month (a refund this month of a run charged last month lowers this
    month's figure; never below zero). Read through the ledger's (user, created_at) index."""
    total = WalletTransaction.objects.filter(
        user_id=user_id,
        created_at__gte=month_start(now),
        type__in=(TxType.AGENT_USAGE, TxType.AGENT_REFUND),
    ).aggregate(total=Sum("amount"))["total"]
    return max(-(total or Decimal("0")), Decimal("0")).quantize(CENT)


# A save that changes one of these may start a recharge; one that changes none never does.
ARMING_FIELDS = ("auto_recharge_enabled", "auto_recharge_threshold", "auto_recharge_amount")


def max_threshold(amount: Decimal) -> Decimal:
    """The threshold must stay below this: a recharge of `amount` at the threshold fits the wallet."""
    return (ledger.max_balance() - amount).quantize(CENT)


def recharge_value_errors(*, threshold: Decimal | None, amount: Decimal | None,
                          monthly_limit: Decimal | None) -> dict[str, str]:
    """The auto-recharge rules a save must meet, as {field name: message} (empty: all met): the
    threshold below WALLET_MAX_BALANCE minus the amount (else it is "always below", issue 18), and a
    monthly cap not below the amount (else no automatic top-up could ever be made)."""
    errors = {}
    if threshold is not None and amount is not None and threshold >= max_threshold(amount):
        errors["auto_recharge_threshold"] = (
            f"The threshold must be below {format_money(max_threshold(amount))}: the wallet holds at most "
            f"{format_money(ledger.max_balance())}, and one top-up of {format_money(amount)} must fit."
        )
    if monthly_limit is not None and amount is not None and monthly_limit < amount:
        errors["auto_recharge_monthly_limit"] = (
            f"The monthly cap of {format_money(monthly_limit)} is below the amount of one top-up "
            f"({format_money(amount)}), so no automatic top-up could be made. Raise the cap or lower "
            "the amount."
        )
    return errors


def save_settings(*, user, values: dict) -> BillingSettings:
    """Store the settings form's cleaned values (InvalidAmount: recharge_value_errors refused them).

    A save never clears the back-off, the failure count or the pause (issue 18: saves re-armed a
    declining card again and again): only resume_auto_recharge or a new card does. It queues a
    recharge only when it changes what arms one (ten identical saves in parallel queued ten), and
    only when one is due now, allowed by the back-off, and none is in flight."""
    with transaction.atomic():
        balance = ledger.lock_user(user.pk)
        billing, _ = BillingSettings.objects.select_for_update().get_or_create(user_id=user.pk)
        armed_before = [getattr(billing, name) for name in ARMING_FIELDS]
        for name, value in values.items():
            setattr(billing, name, value)
        if billing.auto_recharge_enabled:
            refusals = recharge_value_errors(
                threshold=billing.auto_recharge_threshold, amount=billing.auto_recharge_amount,
                monthly_limit=billing.auto_recharge_monthly_limit,
            )
            if refusals:  # the form refuses these first; a caller that skipped it gets the same rule
                raise InvalidAmount(next(iter(refusals.values())))
        # The alert is for a crossing from here on: a balance already below it counts as alerted.
        alert = billing.low_balance_alert
        billing.low_balance_alerted = alert is not None and balance < alert
        billing.save()
        if [getattr(billing, name) for name in ARMING_FIELDS] != armed_before:
            _queue_if_due(billing, balance)
    return billing


def resume_auto_recharge(*, user) -> BillingSettings:
    """The person's explicit "resume" (the settings page offers it while paused or backing off):
    forget the failures, the back-off and the pause, and recharge now if the balance is below."""
    with transaction.atomic():
        balance = ledger.lock_user(user.pk)
        billing, _ = BillingSettings.objects.select_for_update().get_or_create(user_id=user.pk)
        clear_back_off(billing)
        billing.save()
        _queue_if_due(billing, balance)
    return billing


def is_backing_off(billing: BillingSettings, now=None) -> bool:
    """Paused, or waiting out the back-off after a failed automatic top-up (the page offers resume)."""
    retry_after = billing.auto_recharge_retry_after
    return billing.auto_recharge_enabled and (
        billing.auto_recharge_paused_at is not None
        or (retry_after is not None and retry_after > (now or timezone.now()))
    )


def _queue_if_due(billing: BillingSettings, balance: Decimal) -> None:
    """Under the user lock: enqueue a recharge (on commit) if one is due and none is in flight."""
    if _wants_recharge(billing, balance) and not _in_flight(billing.user_id):
        transaction.on_commit(partial(enqueue_recharge, billing.user_id))


def _in_flight(user_id) -> bool:
    return TopUp.objects.filter(user_id=user_id, is_automatic=True, status__in=IN_FLIGHT).exists()


# --- hooks in the balance change's transaction ----------------------------------------------------


def _wants_recharge(billing: BillingSettings, balance: Decimal) -> bool:
    retry_after = billing.auto_recharge_retry_after
    return (
        billing.auto_recharge_active
        and bool(billing.auto_recharge_payment_method)
        and billing.auto_recharge_threshold is not None
        and balance < billing.auto_recharge_threshold
        and (retry_after is None or retry_after <= timezone.now())
    )


def on_balance_changed(
    sender, *, user_id: int, new_balance: Decimal, delta: Decimal, entry, **kwargs
) -> None:
    """Receiver of balance_changed, in the change's transaction under the user lock: the low-balance
    flag and the recharge trigger. One indexed read (this row), sent only for a watched balance."""
    billing = BillingSettings.objects.filter(pk=user_id).first()
    if billing is None:
        return
    alert = billing.low_balance_alert
    if alert is not None:
        if new_balance < alert and not billing.low_balance_alerted:
            # Conditional: of a burst of debits only the one that flips the flag sends the email.
            if BillingSettings.objects.filter(pk=user_id, low_balance_alerted=False).update(
                low_balance_alerted=True
            ):
                transaction.on_commit(partial(enqueue_email, LOW_BALANCE, entry.pk))
                # issue 21: customer webhooks (balance.low) listen above; the same one crossing.
                transaction.on_commit(partial(
                    low_balance.send_robust, sender=BillingSettings, user_id=user_id, balance=new_balance,
                    alert=alert, entry=entry,
                ))
        elif new_balance >= alert and billing.low_balance_alerted:
            BillingSettings.objects.filter(pk=user_id).update(low_balance_alerted=False)
    # Only spending recharges (issue 18): a refund to the card, an adjustment or a dispute that
    # lowers the balance must never be charged straight back to the card.
    if entry.type in RECHARGING_TYPES and _wants_recharge(billing, new_balance) and not _in_flight(user_id):
        transaction.on_commit(partial(enqueue_recharge, user_id))


def enqueue_recharge(user_id: int) -> None:
    """Hand the recharge to the task queue (after commit); a queue outage is logged, never raised."""
    try:
        auto_recharge.enqueue(int(user_id))
    except Exception:  # noqa: BLE001 - the debit is committed; the next one tries again
        logger.exception("could not enqueue the auto-recharge of user %s", user_id)


# --- the recharge -------------------------------------------------------------------------------------


def recharged_this_month(user_id, now=None) -> Decimal:
    """Money auto-recharged this calendar month (succeeded or still in flight)."""
    total = TopUp.objects.filter(
        user_id=user_id,
        is_automatic=True,
        created_at__gte=month_start(now),
        status__in=(TopUp.Status.SUCCEEDED, *IN_FLIGHT),
    ).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal("0")).quantize(CENT)


def recharge_amount(*, billing: BillingSettings, balance: Decimal, now=None) -> tuple[Decimal, str]:
    """(amount to charge, note). The configured amount, never more (issue 18: rounding up to close
    the gap charged 10,000 AED for an amount of 2.00 without consent), reduced to what the wallet
    limit and the monthly cap allow. Amount 0: nothing fits, the note says why."""
    configured, threshold = billing.auto_recharge_amount, billing.auto_recharge_threshold
    if configured is None or threshold is None:  # the constraint forbids it while enabled
        return Decimal("0.00"), "No automatic top-up was made: the settings are incomplete."
    amount = min(configured, Decimal(settings.TOPUP_MAX_AMOUNT)).quantize(CENT)
    limits = [(ledger.room_for(balance), f"the wallet limit of {format_money(ledger.max_balance())}")]
    if billing.auto_recharge_monthly_limit is not None:
        used = recharged_this_month(billing.user_id, now)
        left = max(billing.auto_recharge_monthly_limit - used, Decimal(0))
        limits.append(
            (left, f"your monthly auto-recharge limit of {format_money(billing.auto_recharge_monthly_limit)}")
        )
    # Issue 20 review: a new account's first-day total (NEW_ACCOUNT_TOPUP_LIMIT) counts these too.
    first_day = card_testing.first_day_room(user_id=billing.user_id, now=now)
    if first_day is not None:
        room, cap = first_day
        limits.append((room, f"the {format_money(cap)} a new account may add in its first day"))
    note = ""
    for room, name in limits:
        if room < amount:
            amount, note = room.quantize(CENT), name
    if amount < settings.TOPUP_MIN_AMOUNT:
        return Decimal("0.00"), f"No automatic top-up was made: it would exceed {note}."
    if note:
        return amount, f"The automatic top-up was reduced to {format_money(amount)} to stay within {note}."
    return amount, ""


def run_auto_recharge(*, user_id: int) -> str:
    """The recharge task: decide and record under the lock, charge outside it, settle. Idempotent:
    a second delivery finds the balance restored, a recharge in flight, or the back-off running."""
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        balance = ledger.lock_user(user_id)
        billing = BillingSettings.objects.select_for_update().filter(pk=user_id).first()
        if billing is None or not _wants_recharge(billing, balance):
            return "not needed"
        if not billing.stripe_customer_id:
            return "no saved card"
        if User.objects.filter(pk=user_id, held_at__isnull=False).exists():
            return "account on hold"  # issue 20: a held account is never charged automatically
        amount, note = recharge_amount(billing=billing, balance=balance, now=now)
        if amount == 0:
            _notify_blocked(billing, note, now)
            return "nothing fits"
        try:
            with transaction.atomic():
                topup = TopUp.objects.create(
                    user_id=user_id,
                    amount=amount,
                    currency=settings.WALLET_CURRENCY,
                    idempotency_key=f"auto-{uuid.uuid4()}",
                    is_automatic=True,
                )
        except IntegrityError:
            return "already in flight"  # topup_one_auto_recharge_in_flight
        if note != billing.auto_recharge_notice:
            billing.auto_recharge_notice = note
            billing.save(update_fields=["auto_recharge_notice", "updated_at"])
        customer, card = billing.stripe_customer_id, billing.auto_recharge_payment_method

    # Outside any transaction, no lock held: the network calls (the card's name for the receipt and
    # history, from the cached card list), then the charge through the one charge-and-settle path.
    topup.card_label = card_label(user_id=user_id, payment_method=card)
    TopUp.objects.filter(pk=topup.pk).update(card_label=topup.card_label)
    charge = partial(
        payments.charge_saved_card,
        amount_minor=payments.to_minor(amount),
        currency=topup.currency,
        customer=customer,
        payment_method=card,
        metadata={"topup_id": str(topup.id), "user_id": str(user_id), "automatic": "1"},
        idempotency_key=f"topup-{topup.id}",
    )
    try:
        result = charge_and_settle(topup=topup, charge=charge, user=User(pk=user_id), declined=_declined)
    # A decline, a refusal or a failed intent: whoever marked the TopUp failed (charge_and_settle,
    # settle_topup, mark_topup) recorded the back-off and the count in that same transaction.
    except PaymentDeclined:
        return "declined"
    except PaymentProviderUnavailable:
        # The intent may exist: the TopUp stays pending (in flight) until reconciliation decides.
        logger.warning(
            "auto-recharge %s of user %s: Stripe unreachable; left to reconciliation", topup.id, user_id
        )
        return "provider unavailable"
    except PaymentProviderError:
        return "refused"
    status = result.topup.status
    if status == TopUp.Status.REQUIRES_ACTION:
        # The bank wants the cardholder, who is not there (the sandbox's shape of real Stripe's
        # authentication_required): cancel it, so it fails. Should it have gone through meanwhile,
        # the intent read back is settled instead.
        intent_id = result.topup.stripe_payment_intent_id or ""
        try:
            intent = payments.cancel_or_retrieve(intent_id)
        except WalletError:
            logger.warning("auto-recharge %s: could not cancel intent %s", topup.id, intent_id)
        else:
            if intent.status == payments.IntentStatus.SUCCEEDED:
                status = settle_topup(intent=intent).topup.status
        if status != TopUp.Status.SUCCEEDED:
            mark_topup(topup.id, status=TopUp.Status.FAILED, failure_reason=NEEDS_YOU)
            return "needs authentication"
    if status == TopUp.Status.FAILED:
        return "failed"
    if status == TopUp.Status.SUCCEEDED:
        warn_if_runaway(user_id=user_id)
        return "succeeded"
    return str(status)


def _declined(exc: PaymentDeclined) -> str:
    return NEEDS_YOU if exc.decline_code == "authentication_required" else (exc.user_message or "Declined.")


def _notify_blocked(billing: BillingSettings, note: str, now) -> None:
    """Nothing fits under the limits: say so on the settings page, and by email once a month."""
    if billing.auto_recharge_notice != note:
        billing.auto_recharge_notice = note
        billing.save(update_fields=["auto_recharge_notice", "updated_at"])
    key = f"{billing.user_id}:{month_start(now):%Y-%m}"
    transaction.on_commit(partial(enqueue_email, AUTO_RECHARGE_LIMIT, key))


def recent_automatic_count(user_id, now=None) -> int:
    """Automatic top-ups attempted in the last hour, whatever became of them: a card declined again
    and again is as much a runaway as one charged again and again (issue 18)."""
    since = (now or timezone.now()) - timedelta(hours=1)
    return TopUp.objects.filter(user_id=user_id, is_automatic=True, created_at__gte=since).count()


def warn_if_runaway(*, user_id) -> None:
    """Ops see runaway recharges: a WARNING when a user's automatic attempts in the last hour exceed
    AUTO_RECHARGE_RUNAWAY_PER_HOUR (the admin lists the same users)."""
    count = recent_automatic_count(user_id)
    if count > settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR:
        logger.warning(
            "runaway auto-recharge: user %s had %s automatic top-ups in the last hour (limit %s)",
            user_id, count, settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR,
        )


@task()
def auto_recharge(user_id: int) -> str:
    """Top up a wallet whose balance fell below its auto-recharge threshold (run_auto_recharge).
    Safe to deliver twice or twenty times: at most one recharge per user is in flight (a database
    constraint), and a delivery that finds the balance restored or the back-off running does nothing.
    Defined beside its body so this service enqueues it without importing upward."""
    return run_auto_recharge(user_id=user_id)
