"""Card top-ups: start one, the one charge-and-settle path (shared with auto-recharge), settle_topup
(the one door from a PaymentIntent to balance), and finishing or canceling a top-up left at 3-D Secure.

Receipts follow a credit from here (an explicit enqueue after commit), not from the ledger.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from netcop_hub import ratelimit

from .. import payments
from ..emails import TOPUP_RECEIPT, enqueue_email
from ..exceptions import (
    BalanceLimitExceeded,
    InvalidAmount,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
    TopUpError,
    TopUpMismatch,
)
from ..models import CardRefund, LotKind, LotSource, PaymentOrigin, TopUp, TxType
from ..money import MAX_AMOUNT, format_money, parse_amount, to_money, topup_range_message
from ..payments import BrowserConfig, Intent, IntentStatus
from ..signals import topup_settled
from . import card_testing, cards, disputes, holds, ledger, lots, recharge_failures, refunds

logger = logging.getLogger(__name__)

NOT_STARTED = "Payment could not be started."


def validate_topup_amount(value) -> Decimal:
    """A top-up amount: a number with at most two places within TOPUP_MIN_AMOUNT..TOPUP_MAX_AMOUNT."""
    amount = parse_amount(value) if isinstance(value, str) else to_money(value)
    low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
    if amount < low or amount > high:
        raise InvalidAmount(topup_range_message())
    return amount


@dataclass(frozen=True)
class SettleResult:
    """The outcome of settling a top-up: its state now, and whether this call credited it."""

    topup: TopUp
    credited_now: bool
    new_balance: Decimal | None = None
    # Only when the top-up awaits 3-D Secure: the intent's client secret for Stripe.js. Never logged.
    client_secret: str = field(default="", repr=False)

    @property
    def status(self) -> str:
        return self.topup.status


# Intent metadata: the card the person asked to save with this payment.
SAVE_CARD = "save_card"


def mark_topup(topup_id, **fields) -> TopUp:
    """Move a not-yet-final top-up to a new non-success state (short transaction). An automatic one
    marked failed or canceled starts the recharge back-off in the same transaction (under the user lock)."""
    with transaction.atomic():
        user_id, automatic = TopUp.objects.values_list("user_id", "is_automatic").get(pk=topup_id)
        if automatic:
            ledger.lock_user(user_id)  # its failure writes the settings: the user row first
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.is_final:
            return topup
        for name, value in fields.items():
            setattr(topup, name, value)
        topup.save(update_fields=[*fields, "updated_at"])
        if topup.status in recharge_failures.FAILED_STATUSES:
            recharge_failures.record_failure(topup=topup)  # same commit as the freed in-flight slot
        return topup


def start_topup(
    *, user, amount, payment_method_id: str, idempotency_key: str, save_card: bool = False,
    client_ip: str = "",
) -> SettleResult:
    """Record a TopUp, then (outside any transaction) create and confirm its PaymentIntent.

    save_card: also save the card on the user's Stripe Customer for automatic top-ups.
    client_ip: the customer's address, kept with the top-up as dispute evidence (PaymentOrigin) and
    counted by the card-testing limits (card_testing).

    The same idempotency_key from the same user returns the same TopUp and never charges twice.
    Raises InvalidAmount, TopUpError, PaymentDeclined, PaymentProviderUnavailable, and before
    anything reaches Stripe EmailNotVerified, TooManyDeclines, NewAccountLimitReached.
    """
    holds.ensure_not_held(user=user)  # issue 20: AccountOnHold before anything is recorded or charged
    amount = validate_topup_amount(amount)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise TopUpError("Missing or invalid idempotency key.")
    if not payment_method_id or len(payment_method_id) > 255:
        raise TopUpError("Missing payment method.")
    # A repeated request (lost answer, double click) reports its top-up below; only a new attempt
    # is checked, so a top-up that just succeeded is never refused by its own first-day total.
    fingerprint = ""
    if not TopUp.objects.filter(user=user, idempotency_key=key).exists():
        card_testing.check_topup_allowed(user=user, amount=amount, client_ip=client_ip)
        fingerprint = card_testing.check_card(payment_method_id=payment_method_id)
    _check_room(user, amount)
    try:
        with transaction.atomic():
            topup = TopUp.objects.create(
                user=user, amount=amount, currency=settings.WALLET_CURRENCY, idempotency_key=key
            )
            address = ratelimit.ip_or_none(client_ip)  # a proxy header could carry anything
            if address is not None:
                PaymentOrigin.objects.create(topup=topup, client_ip=address)
    except IntegrityError:
        topup = TopUp.objects.get(user=user, idempotency_key=key)
        if topup.amount != amount:
            raise TopUpError("This payment request was already used for a different amount.")
        return _replay(topup)

    def charge() -> Intent:
        customer = ""
        if save_card:
            customer = cards.ensure_customer(user=user)
            payments.prepare_card_for_saving(customer=customer, payment_method=payment_method_id)
        return payments.create_and_confirm_intent(
            amount_minor=payments.to_minor(amount),
            currency=topup.currency,
            payment_method=payment_method_id,
            metadata={"topup_id": str(topup.id), "user_id": str(topup.user_id),
                      # The card to save once paid, also after 3-D Secure (finish_topup).
                      **({SAVE_CARD: payment_method_id} if save_card else {})},
            # Our TopUp id: a retried create returns the original intent on real Stripe.
            idempotency_key=f"topup-{topup.id}",
            customer=customer,
            save_card=save_card,
        )

    try:
        result = charge_and_settle(topup=topup, charge=charge, user=user)
    except PaymentDeclined as exc:
        card_testing.record_decline(user_id=user.pk, client_ip=client_ip, topup_id=topup.id,
                                    fingerprint=exc.card_fingerprint or fingerprint,
                                    payment_method_id=payment_method_id)
        raise
    if result.topup.status == TopUp.Status.FAILED:  # declined without an error (requires_payment_method)
        card_testing.record_decline(user_id=user.pk, client_ip=client_ip, fingerprint=fingerprint,
                                    topup_id=topup.id, payment_method_id=payment_method_id)
    if save_card:
        _save_paid_card(user=user, result=result, payment_method=payment_method_id)
    return result


def _save_paid_card(*, user, result: SettleResult, payment_method: str) -> None:
    """Only a card that paid is saved (the sandbox attaches it now; Stripe saved it with the payment)."""
    if not payment_method or result.topup.status != TopUp.Status.SUCCEEDED:
        return
    payments.save_card_after_payment(customer=cards.ensure_customer(user=user), payment_method=payment_method)
    cards.remember_card(user_id=user.pk, payment_method=payment_method)


def charge_and_settle(
    *,
    topup: TopUp,
    charge: Callable[[], Intent],
    user=None,
    declined: Callable[[PaymentDeclined], str] | None = None,
) -> SettleResult:
    """The one path from a recorded TopUp to a settled payment, for a top-up and auto-recharge alike.

    Outside any transaction (the gateway refuses otherwise), `charge` creates and confirms the
    PaymentIntent. A decline (reason: `declined(exc)`, else the bank's message) or a refused request
    marks the top-up failed and propagates; an outage propagates and leaves it pending, since the
    intent may exist (reconciliation finds it by its metadata). Then the intent id is recorded and
    settle_topup settles it.
    """
    try:
        intent = charge()
    except PaymentDeclined as exc:
        reason = declined(exc) if declined is not None else exc.user_message
        mark_topup(topup.id, status=TopUp.Status.FAILED, failure_reason=reason[:255])
        raise
    except PaymentProviderUnavailable:
        raise
    except PaymentProviderError:
        mark_topup(topup.id, status=TopUp.Status.FAILED, failure_reason=NOT_STARTED)
        raise
    with transaction.atomic():
        TopUp.objects.filter(pk=topup.id, stripe_payment_intent_id__isnull=True).update(
            stripe_payment_intent_id=intent.id, updated_at=timezone.now()
        )
    return settle_topup(intent=intent, user=user)


def finish_topup(*, user, intent_id: str, client_ip: str = "") -> SettleResult:
    """After 3-D Secure (or "Finish authentication"): read the user's top-up's intent and settle it.

    A failed authentication counts as a decline (card_testing). TopUp.DoesNotExist when the intent
    is not one of the user's top-ups.
    """
    _check_owner(user=user, intent_id=intent_id)
    intent = payments.retrieve_intent(intent_id)
    result = settle_topup(intent=intent, user=user)
    if result.topup.status == TopUp.Status.FAILED:
        card_testing.record_decline(user_id=user.pk, client_ip=client_ip, topup_id=result.topup.id)
    _save_paid_card(user=user, result=result, payment_method=intent.metadata.get(SAVE_CARD, ""))
    return result


def cancel_topup(*, user, intent_id: str) -> SettleResult:
    """Cancel the user's top-up left at 3-D Secure, then settle what Stripe says.

    If Stripe refuses because the payment went through meanwhile, the intent is read back and
    settled, so the customer is credited rather than told it was canceled. The new state is written
    by settle_topup only. TopUp.DoesNotExist when the intent is not one of the user's top-ups.
    """
    _check_owner(user=user, intent_id=intent_id)
    return settle_topup(intent=payments.cancel_or_retrieve(intent_id), user=user)


def _check_owner(*, user, intent_id: str) -> None:
    """Never ask Stripe about an intent that is not one of this user's top-ups."""
    if not TopUp.objects.filter(user=user, stripe_payment_intent_id=intent_id).exists():
        raise TopUp.DoesNotExist("Not one of this user's top-ups.")


def browser_config() -> BrowserConfig:
    """What the top-up page needs of the payments backend (its Stripe.js, test cards, CSP origins)."""
    return payments.browser_config()


def _check_room(user, amount: Decimal) -> None:
    """Refuse, before anything is recorded or charged, a top-up the wallet may not hold.

    Read without a lock: two top-ups racing past this check are settled anyway (settle_topup
    credits whatever the column can hold, and refunds the rest to the card).
    """
    balance = get_user_model().objects.values_list("wallet_balance", flat=True).get(pk=user.pk)
    limit = ledger.max_balance()
    if balance + amount > limit:
        room = ledger.room_for(balance)
        raise BalanceLimitExceeded(
            f"Your wallet can hold at most {format_money(limit)}. "
            + (
                f"You can add up to {format_money(room)} now."
                if room >= settings.TOPUP_MIN_AMOUNT
                else "Spend some of your balance before topping up again."
            )
        )


def _replay(topup: TopUp) -> SettleResult:
    """A repeated request: report the top-up's state, refreshing it from Stripe when unsettled."""
    if topup.is_final or not topup.stripe_payment_intent_id:
        return SettleResult(topup=topup, credited_now=False, new_balance=None)
    return settle_topup(intent=payments.retrieve_intent(topup.stripe_payment_intent_id))


def settle_topup(*, intent: Intent, user=None) -> SettleResult:
    """The one door from a Stripe PaymentIntent to wallet balance. Idempotent and race-safe.

    `intent` is a payments.Intent just retrieved from (or returned by) Stripe. When `user` is
    given the top-up must be theirs (else TopUp.DoesNotExist). Credits at most once: the TopUp row
    lock serialises callers, the status check makes repeats no-ops, and the database's unique
    constraint on the ledger's intent id backs both up.
    """
    lookup = TopUp.objects.filter(stripe_payment_intent_id=intent.id)
    if user is not None:
        lookup = lookup.filter(user=user)
    user_id = lookup.values_list("user_id", flat=True).get()  # DoesNotExist: not one of ours

    with transaction.atomic():
        # Lock order everywhere: user row, then TopUp. The TopUp's read also says what a dispute left
        # owed: a statement run once the user lock is held, so it sees every committed owed change
        # (all are made under that lock); read with the user's lock it could be a stale snapshot.
        balance = ledger.lock_user(user_id)
        topup, owed = disputes.lock_topup_with_owed(intent_id=intent.id)
        if topup.status in (TopUp.Status.SUCCEEDED, TopUp.Status.RETURNED):
            return SettleResult(topup=topup, credited_now=False)

        if intent.status == IntentStatus.SUCCEEDED:
            expected = payments.to_minor(topup.amount)
            if (
                intent.currency != topup.currency.lower()
                or intent.amount != expected
                or intent.amount_collected != expected
            ):
                logger.error(
                    "topup %s intent %s mismatch: ours %s %s, stripe %s/%s %s",
                    topup.id, intent.id, expected, topup.currency,
                    intent.amount, intent.amount_collected, intent.currency,
                )
                raise TopUpMismatch("The payment does not match this top-up.")
            if balance + topup.amount > MAX_AMOUNT:
                # Collected, yet the column cannot hold it: never drop it silently, send it back.
                refund = _hold_for_return(topup)
                transaction.on_commit(lambda: refunds.return_uncredited(refund.id))
                return SettleResult(topup=topup, credited_now=False)
            # Above WALLET_MAX_BALANCE but within the column (two top-ups raced past the start
            # check): the money was collected, so it is credited.
            entry = ledger.apply_change(
                user_id=topup.user_id,
                delta=topup.amount,
                type=TxType.TOP_UP,
                # History and exports tell automatic top-ups (auto-recharge) from the customer's own.
                description=(
                    topup.automatic_label if topup.is_automatic
                    else f"Card top-up {format_money(topup.amount, topup.currency)}"
                ),
                stripe_payment_intent_id=intent.id,
                savepoint=False,  # any error leaves this whole transaction
                lots=lots.Fill(kind=LotKind.PAID, source=LotSource.TOP_UP, topup_id=topup.pk),
            )
            topup.status = TopUp.Status.SUCCEEDED
            topup.credit_transaction = entry
            topup.failure_reason = ""
            topup.save(update_fields=["status", "credit_transaction", "failure_reason", "updated_at"])
            # What a dispute left owed is repaid first, in this transaction (issue 20).
            repaid = disputes.repay_owed(user_id=topup.user_id) if owed else Decimal("0.00")
            if topup.is_automatic:
                cards.record_recharge_success(user_id=topup.user_id)
            # After commit: a task sends the receipt, so a mail outage never touches the payment.
            transaction.on_commit(lambda: enqueue_email(TOPUP_RECEIPT, topup.pk))
            # issue 21: customer webhooks (topup.succeeded) listen above.
            transaction.on_commit(lambda: topup_settled.send_robust(sender=TopUp, topup=topup, entry=entry))
            return SettleResult(
                topup=topup, credited_now=True, new_balance=entry.balance_after - repaid
            )

        if topup.is_final:
            return SettleResult(topup=topup, credited_now=False)
        new_status = {
            IntentStatus.REQUIRES_ACTION: TopUp.Status.REQUIRES_ACTION,
            IntentStatus.CANCELED: TopUp.Status.CANCELED,
            IntentStatus.REQUIRES_PAYMENT_METHOD: TopUp.Status.FAILED,
        }.get(intent.status, TopUp.Status.PENDING)
        reason = ""
        if new_status == TopUp.Status.FAILED:
            reason = intent.last_error_message or "The payment was not completed."
        elif new_status == TopUp.Status.CANCELED:
            reason = "The payment was canceled."
        if new_status != topup.status or reason != topup.failure_reason:
            topup.status = new_status
            topup.failure_reason = reason[:255]
            topup.save(update_fields=["status", "failure_reason", "updated_at"])
            if new_status in recharge_failures.FAILED_STATUSES:
                recharge_failures.record_failure(topup=topup)  # a webhook's or reconciliation's too
        # The page needs the client secret for 3-D Secure: it came with this intent (no second call).
        secret = intent.client_secret if new_status == TopUp.Status.REQUIRES_ACTION else ""
        return SettleResult(topup=topup, credited_now=False, client_secret=secret)


def _hold_for_return(topup: TopUp) -> CardRefund:
    """In settle's transaction: mark the top-up returned and record the refund that sends it back."""
    why = "Returned to your card: the wallet cannot hold this amount on top of its balance."
    topup.status = TopUp.Status.RETURNED
    topup.failure_reason = why
    topup.save(update_fields=["status", "failure_reason", "updated_at"])
    logger.error("topup %s (%s %s) cannot be credited: over the column's bound; refunding",
                 topup.id, topup.amount, topup.currency)
    return CardRefund.objects.create(topup=topup, amount=topup.amount, reason=why)





def attach_intent_by_metadata(*, intent: Intent) -> TopUp | None:
    """Link an intent whose id we never learned (create's response was lost) to its TopUp.

    The TopUp is found by the intent's `topup_id` metadata and must belong to its `user_id`.
    Returns the TopUp (now carrying the intent id), or None when the intent is not one of ours.
    Amounts are not trusted from here: settle_topup still compares them with the TopUp row.
    """
    topup_id, user_id = intent.metadata.get("topup_id"), intent.metadata.get("user_id")
    try:
        topup_uuid = uuid.UUID(str(topup_id))
    except ValueError:
        logger.info("intent %s has no topup_id metadata: not ours", intent.id)
        return None
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().filter(pk=topup_uuid).first()
        if topup is None or str(topup.user_id) != str(user_id):
            logger.warning("intent %s names topup %s / user %s: no such top-up", intent.id, topup_id, user_id)
            return None
        if topup.stripe_payment_intent_id is None:
            topup.stripe_payment_intent_id = intent.id
            topup.save(update_fields=["stripe_payment_intent_id", "updated_at"])
        elif topup.stripe_payment_intent_id != intent.id:
            # A second intent for one top-up (only possible where idempotency keys are ignored,
            # e.g. localstripe). It is never credited automatically: ops must refund it.
            logger.error(
                "topup %s already has intent %s; intent %s (status %s) is a duplicate",
                topup.id, topup.stripe_payment_intent_id, intent.id, intent.status,
            )
            return None
    return topup
