"""
The only code that changes a wallet balance.

Every change locks the user's row, writes the new balance and an append-only ledger row carrying
`balance_after`, all in one transaction. Amounts are Decimal quantized to 0.01; floats are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .exceptions import (
    InsufficientFunds,
    InvalidAmount,
    PaymentDeclined,
    PaymentProviderError,
    RefundNotAllowed,
    TopUpError,
    TopUpMismatch,
)
from .models import TopUp, TxType, WalletTransaction

__all__ = [
    "TxType",
    "to_money",
    "credit",
    "debit",
    "adjust",
    "validate_topup_amount",
    "start_topup",
    "settle_topup",
    "SettleResult",
    "CENT",
    "MAX_AMOUNT",
]

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# max_digits=12, decimal_places=2 on every money column.
MAX_AMOUNT = Decimal("9999999999.99")


def to_money(value) -> Decimal:
    """Parse `value` (Decimal, int or decimal string) into a Decimal with exactly two places.

    Floats, booleans, NaN/Infinity, more than two decimal places and out-of-range values raise
    InvalidAmount. The sign is not checked here.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidAmount("Amounts must be Decimal or decimal strings, never float.")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount("Enter the amount as a number, e.g. 100.00.") from None
    elif not isinstance(value, Decimal):
        raise InvalidAmount("Enter the amount as a number, e.g. 100.00.")
    if not value.is_finite():
        raise InvalidAmount("Enter the amount as a number, e.g. 100.00.")
    if abs(value) > MAX_AMOUNT:
        raise InvalidAmount("That amount is too large.")
    quantized = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if quantized != value:
        raise InvalidAmount("Amounts can have at most two decimal places.")
    return quantized


def _positive(amount) -> Decimal:
    money = to_money(amount)
    if money <= 0:
        raise InvalidAmount("The amount must be greater than zero.")
    return money


def _user_id(user) -> int:
    return getattr(user, "pk", user)


def _apply(
    *,
    user_id: int,
    delta: Decimal,
    type: str,
    description: str,
    stripe_payment_intent_id: str = "",
    created_by=None,
    savepoint: bool = True,
) -> WalletTransaction:
    """Change one balance by `delta` and append its ledger row, atomically. Caller validated delta.

    savepoint=False (for callers composing this into their own transaction and letting every
    exception propagate out of it) saves the SAVEPOINT/RELEASE round trips on hot paths.
    """
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic(savepoint=savepoint):
        if connection.vendor == "postgresql":
            # One conditional UPDATE: it takes the row lock, refuses to go below zero and returns
            # the new balance, computed exactly in NUMERIC. The lock is held until commit.
            table = connection.ops.quote_name(User._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    # The table name comes from model metadata (quoted), values are parameters.
                    f"UPDATE {table} SET wallet_balance = wallet_balance + %s, updated_at = %s "  # noqa: S608
                    "WHERE id = %s AND wallet_balance + %s >= 0 RETURNING wallet_balance",
                    [delta, now, user_id, delta],
                )
                row = cursor.fetchone()
            if row is None:
                if not User.objects.filter(pk=user_id).exists():
                    raise User.DoesNotExist(f"No user {user_id}")
                raise InsufficientFunds("Insufficient balance.")
            new_balance = Decimal(row[0]).quantize(CENT)
        else:
            # SQLite stores NUMERIC as REAL, so never let it do the arithmetic: read, compute in
            # Decimal, write the absolute value. The IMMEDIATE transaction already holds the
            # database's write lock, which serializes this read-modify-write.
            current = (
                User.objects.select_for_update()
                .values_list("wallet_balance", flat=True)
                .get(pk=user_id)
            )
            new_balance = (current + delta).quantize(CENT)
            if new_balance < 0:
                raise InsufficientFunds("Insufficient balance.")
            User.objects.filter(pk=user_id).update(wallet_balance=new_balance, updated_at=now)
        entry = WalletTransaction.objects.create(
            user_id=user_id,
            amount=delta,
            type=type,
            description=description[:255],
            balance_after=new_balance,
            stripe_payment_intent_id=stripe_payment_intent_id,
            created_by=created_by,
        )
    logger.info(
        "ledger %s user=%s amount=%s balance_after=%s", entry.type, user_id, delta, new_balance
    )
    return entry


def credit(
    *,
    user,
    amount,
    type: str,
    description: str = "",
    stripe_payment_intent_id: str = "",
    created_by=None,
) -> WalletTransaction:
    """Add a positive `amount` to the user's wallet; returns the ledger row."""
    return _apply(
        user_id=_user_id(user),
        delta=_positive(amount),
        type=type,
        description=description,
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
    )


def debit(
    *,
    user,
    amount,
    type: str,
    description: str = "",
    stripe_payment_intent_id: str = "",
    created_by=None,
    savepoint: bool = True,
) -> WalletTransaction:
    """Take a positive `amount` from the wallet; raises InsufficientFunds rather than go below 0."""
    return _apply(
        user_id=_user_id(user),
        delta=-_positive(amount),
        type=type,
        description=description,
        stripe_payment_intent_id=stripe_payment_intent_id,
        created_by=created_by,
        savepoint=savepoint,
    )


def adjust(*, user, amount, reason: str, staff) -> WalletTransaction:
    """A staff correction: a signed `amount` (credit if > 0, debit if < 0) with a mandatory reason."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount("A reason is required for every balance adjustment.")
    money = to_money(amount)
    if money == 0:
        raise InvalidAmount("The adjustment must not be zero.")
    return _apply(
        user_id=_user_id(user),
        delta=money,
        type=TxType.ADJUSTMENT,
        description=f"Adjustment: {reason}",
        created_by=staff,
    )


# --- Card top-ups --------------------------------------------------------------------------------


def validate_topup_amount(value) -> Decimal:
    """A top-up amount: a number with at most two places within TOPUP_MIN_AMOUNT..TOPUP_MAX_AMOUNT."""
    amount = to_money(value)
    low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
    if amount < low or amount > high:
        raise InvalidAmount(
            f"Top-ups must be between {low:,.2f} and {high:,.2f} {settings.WALLET_CURRENCY}."
        )
    return amount


@dataclass(frozen=True)
class SettleResult:
    """The outcome of settling a top-up: its state now, and whether this call credited it."""

    topup: TopUp
    credited_now: bool
    new_balance: Decimal | None = None

    @property
    def status(self) -> str:
        return self.topup.status


def _assert_no_transaction() -> None:
    # Money rule 4: a Stripe call never happens inside a database transaction.
    # (Django's TestCase wraps each test in atomic blocks flagged _from_testcase: those don't count.)
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("Stripe must not be called inside a database transaction.")


def _mark(topup_id, **fields) -> TopUp:
    """Move a not-yet-final top-up to a new non-success state (short transaction, TopUp lock only)."""
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.is_final:
            return topup
        for name, value in fields.items():
            setattr(topup, name, value)
        topup.save(update_fields=[*fields, "updated_at"])
        return topup


def start_topup(*, user, amount, payment_method_id: str, idempotency_key: str) -> SettleResult:
    """Record a TopUp, then (outside any transaction) create and confirm its PaymentIntent.

    The same idempotency_key from the same user returns the same TopUp and never charges twice.
    Raises InvalidAmount, TopUpError, PaymentDeclined, PaymentProviderUnavailable.
    """
    amount = validate_topup_amount(amount)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise TopUpError("Missing or invalid idempotency key.")
    if not payment_method_id or len(payment_method_id) > 255:
        raise TopUpError("Missing payment method.")
    try:
        with transaction.atomic():
            topup = TopUp.objects.create(
                user=user, amount=amount, currency=settings.WALLET_CURRENCY, idempotency_key=key
            )
    except IntegrityError:
        topup = TopUp.objects.get(user=user, idempotency_key=key)
        if topup.amount != amount:
            raise TopUpError("This payment request was already used for a different amount.")
        return _replay(topup)

    _assert_no_transaction()
    from . import stripe_gateway

    try:
        intent = stripe_gateway.create_and_confirm_intent(
            amount_minor=stripe_gateway.to_minor(amount),
            currency=topup.currency,
            payment_method=payment_method_id,
            metadata={"topup_id": str(topup.id), "user_id": str(topup.user_id)},
            # Our TopUp id: a retried create returns the original intent on real Stripe.
            idempotency_key=f"topup-{topup.id}",
        )
    except PaymentDeclined as exc:
        _mark(topup.id, status=TopUp.Status.FAILED, failure_reason=exc.user_message[:255])
        raise
    except PaymentProviderError:
        _mark(topup.id, status=TopUp.Status.FAILED, failure_reason="Payment could not be started.")
        raise
    # PaymentProviderUnavailable: the intent may or may not exist. The TopUp stays pending for
    # reconciliation (which can find the intent by its metadata) and the error propagates.
    with transaction.atomic():
        TopUp.objects.filter(pk=topup.id, stripe_payment_intent_id__isnull=True).update(
            stripe_payment_intent_id=intent.id, updated_at=timezone.now()
        )
    return settle_topup(intent=intent, user=user)


def _replay(topup: TopUp) -> SettleResult:
    """A repeated request: report the top-up's state, refreshing it from Stripe when unsettled."""
    if topup.is_final or not topup.stripe_payment_intent_id:
        return SettleResult(topup=topup, credited_now=False, new_balance=None)
    from . import stripe_gateway

    _assert_no_transaction()
    return settle_topup(intent=stripe_gateway.retrieve_intent(topup.stripe_payment_intent_id))


def settle_topup(*, intent, user=None) -> SettleResult:
    """The one door from a Stripe PaymentIntent to wallet balance. Idempotent and race-safe.

    `intent` is a stripe_gateway.Intent just retrieved from (or returned by) Stripe. When `user` is
    given the top-up must be theirs (else TopUp.DoesNotExist). Credits at most once: the TopUp row
    lock serialises callers, the status check makes repeats no-ops, and the database's unique
    constraint on the ledger's intent id backs both up.
    """
    from . import stripe_gateway

    User = get_user_model()
    lookup = TopUp.objects.filter(stripe_payment_intent_id=intent.id)
    if user is not None:
        lookup = lookup.filter(user=user)
    user_id = lookup.values_list("user_id", flat=True).get()  # DoesNotExist: not one of ours

    with transaction.atomic():
        # Lock order everywhere: user row, then TopUp.
        email, name = User.objects.select_for_update().values_list("email", "username").get(pk=user_id)
        topup = TopUp.objects.select_for_update().get(stripe_payment_intent_id=intent.id)
        if topup.status == TopUp.Status.SUCCEEDED:
            return SettleResult(topup=topup, credited_now=False)

        if intent.status == "succeeded":
            expected = stripe_gateway.to_minor(topup.amount)
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
            entry = _apply(
                user_id=topup.user_id,
                delta=topup.amount,
                type=TxType.TOP_UP,
                description=f"Card top-up {topup.amount} {topup.currency}",
                stripe_payment_intent_id=intent.id,
                savepoint=False,  # any error leaves this whole transaction
            )
            topup.status = TopUp.Status.SUCCEEDED
            topup.credit_transaction = entry
            topup.failure_reason = ""
            topup.save(update_fields=["status", "credit_transaction", "failure_reason", "updated_at"])
            # After commit, from what we hold: no re-read of what this transaction just wrote.
            transaction.on_commit(lambda: _send_receipt(topup=topup, entry=entry, email=email, name=name))
            return SettleResult(topup=topup, credited_now=True, new_balance=entry.balance_after)

        if topup.is_final:
            return SettleResult(topup=topup, credited_now=False)
        new_status = {
            "requires_action": TopUp.Status.REQUIRES_ACTION,
            "canceled": TopUp.Status.CANCELED,
            "requires_payment_method": TopUp.Status.FAILED,
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
        return SettleResult(topup=topup, credited_now=False)


def _send_receipt(*, topup: TopUp, entry: WalletTransaction, email: str, name: str) -> None:
    """Email a receipt for a credited top-up (runs after commit; a mail failure is only logged)."""
    from .emails import send_topup_receipt

    try:
        send_topup_receipt(topup=topup, entry=entry, email=email, name=name)
    except Exception:  # noqa: BLE001 - the money is credited; a receipt failure must not undo it
        logger.exception("could not send receipt for topup %s", topup.id)



# --- Nothing lost: intents found by metadata, refunds to card, refunds made in Stripe ------------
# (Appended for issue 4; the functions above are unchanged.)


def attach_intent_by_metadata(*, intent) -> TopUp | None:
    """Link an intent whose id we never learned (create's response was lost) to its TopUp.

    The TopUp is found by the intent's `topup_id` metadata and must belong to its `user_id`.
    Returns the TopUp (now carrying the intent id), or None when the intent is not one of ours.
    Amounts are not trusted from here: settle_topup still compares them with the TopUp row.
    """
    import uuid

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


def _refunds_taken(topup: TopUp) -> Decimal:
    # Summed in Python: SQLite would add NUMERIC as REAL. Pending refunds already debited the wallet.
    from .models import CardRefund

    amounts = topup.refunds.filter(
        status__in=[CardRefund.Status.SUCCEEDED, CardRefund.Status.PENDING]
    ).values_list("amount", flat=True)
    return sum((Decimal(a).quantize(CENT) for a in amounts), Decimal("0.00"))


def refundable_amount(topup: TopUp) -> Decimal:
    """How much of a settled top-up can still go back to the card (ignoring the wallet balance)."""
    if topup.status != TopUp.Status.SUCCEEDED:
        return Decimal("0.00")
    return max(topup.amount - _refunds_taken(topup), Decimal("0.00"))


def _lock_user(user_id) -> Decimal:
    """Lock the user row (first in the lock order) and return the current balance."""
    User = get_user_model()
    balance = User.objects.select_for_update().values_list("wallet_balance", flat=True).get(pk=user_id)
    return Decimal(balance).quantize(CENT)


class RefundAlreadySubmitted(RefundNotAllowed):
    """The request_key was used before: this is a repeated submit of the same refund form."""


# Stripe honours an idempotency key for 24 h: past this age a pending refund is never re-created
# automatically (a re-create could refund the card twice); a person checks it in Stripe instead.
REFUND_RETRY_WINDOW = timedelta(hours=20)
NEEDS_REVIEW = "Needs review: "


def refund_topup(*, topup, amount, reason: str, staff, request_key: str | None = None):
    """Refund (part of) a settled top-up to the card; returns the CardRefund.

    Order, so that a failure at any step neither creates nor loses money:
    1. one transaction: validate the caps, record the CardRefund (pending) and debit the wallet;
    2. outside any transaction: ask Stripe, with the refund record's id as the idempotency key;
    3. Stripe accepted -> succeeded; Stripe refused -> the debit is reversed by a new credit row and
       the refund is failed; Stripe unreachable -> it stays pending (the wallet stays debited, as the
       money may have left) and `retry_pending_refund` (run by reconcile_topups) asks again with the
       same key, which real Stripe answers with the original refund.
    `request_key` (optional, single-use) is stored with the refund in the debit's transaction: a
    second call with the same key debits nothing and raises RefundAlreadySubmitted.
    Raises RefundNotAllowed (over a cap, not settled, no reason) or InvalidAmount.
    """
    from .exceptions import RefundNotAllowed
    from .models import CardRefund

    reason = (reason or "").strip()
    if not reason:
        raise RefundNotAllowed("A reason is required for every refund.")
    money = _positive(amount)
    try:
        refund, locked = _record_refund(topup, money, reason, staff, request_key)
    except IntegrityError:
        # The unique request_key backs up the check in _record_refund; the transaction rolled back.
        if request_key and CardRefund.objects.filter(request_key=request_key).exists():
            raise RefundAlreadySubmitted("This refund was already submitted.") from None
        raise
    logger.info("card refund %s of topup %s for %s requested by %s", refund.id, locked.id, money, staff)
    return _send_refund(refund)


def _record_refund(topup, money: Decimal, reason: str, staff, request_key):
    """One transaction: check the caps and the request key, record the pending refund, debit."""
    from .exceptions import RefundNotAllowed
    from .models import CardRefund

    with transaction.atomic():
        # Lock order everywhere: user row, then TopUp.
        balance = _lock_user(topup.user_id)
        if request_key and CardRefund.objects.filter(request_key=request_key).exists():
            raise RefundAlreadySubmitted("This refund was already submitted.")
        locked = TopUp.objects.select_for_update().get(pk=topup.pk)
        if locked.status != TopUp.Status.SUCCEEDED or not locked.stripe_payment_intent_id:
            raise RefundNotAllowed("Only a succeeded top-up can be refunded to the card.")
        remainder = refundable_amount(locked)
        if money > remainder:
            raise RefundNotAllowed(
                f"At most {remainder:,.2f} {locked.currency} of this top-up can still be refunded "
                f"({money:,.2f} asked)."
            )
        if money > balance:
            raise RefundNotAllowed(
                f"The wallet holds only {balance:,.2f} {locked.currency}: a refund to the card cannot "
                f"exceed the current balance ({money:,.2f} asked)."
            )
        refund = CardRefund.objects.create(
            topup=locked,
            amount=money,
            reason=reason[:255],
            requested_by=staff,
            request_key=request_key or None,
        )
        refund.debit_transaction = _apply(
            user_id=locked.user_id,
            delta=-money,
            type=TxType.REFUND,
            description=f"Refund to card: {reason}",
            stripe_payment_intent_id=locked.stripe_payment_intent_id,
            created_by=staff,
        )
        refund.save(update_fields=["debit_transaction", "updated_at"])
    return refund, locked


def retry_pending_refund(refund, *, now=None):
    """Bring a refund left pending (outage, or Stripe said pending) in line with Stripe.

    Known Stripe refund id: read it from Stripe and finish it as Stripe says. Unknown id: create it
    again with the same idempotency key, but only within REFUND_RETRY_WINDOW (Stripe forgets keys
    after 24 h; a re-create then could refund the card twice). On this path a 4xx from Stripe is not
    a refusal that reverses the debit (the first attempt may have refunded the card): the refund
    stays pending with failure_reason "Needs review: ..." for a person.
    """
    from . import stripe_gateway
    from .models import CardRefund

    refund.refresh_from_db()
    if refund.status != CardRefund.Status.PENDING or refund.debit_transaction_id is None:
        return refund
    if refund.stripe_refund_id:
        try:
            result = stripe_gateway.retrieve_refund(refund.stripe_refund_id)
        except (PaymentDeclined, PaymentProviderError):
            return _needs_review(refund.id, "Stripe refused to show the refund; check it in Stripe.")
        return apply_stripe_refund(refund.id, result)
    if refund.failure_reason.startswith(NEEDS_REVIEW):
        return refund  # a person decides; reported again by every reconcile run
    if (now or timezone.now()) - refund.created_at >= REFUND_RETRY_WINDOW:
        return _needs_review(
            refund.id, "pending too long to retry safely (Stripe's idempotency window); check it in Stripe."
        )
    return _send_refund(refund, first_attempt=False)


def _needs_review(refund_id, why: str):
    """Leave a pending refund pending (wallet stays debited) and say why a person must look at it."""
    from .models import CardRefund

    reason = (why if why.startswith(NEEDS_REVIEW) else NEEDS_REVIEW + why)[:255]
    CardRefund.objects.filter(pk=refund_id, status=CardRefund.Status.PENDING).update(
        failure_reason=reason, updated_at=timezone.now()
    )
    logger.error("card refund %s needs review: %s", refund_id, why)
    return CardRefund.objects.select_related("topup").get(pk=refund_id)


def apply_stripe_refund(refund_id, result):
    """Finish our refund as Stripe's Refund object says: only "succeeded" is success.

    "failed"/"canceled": refused, the debit is reversed (once). Anything else (pending,
    requires_action): stays pending with the Stripe refund id recorded, to be read again later.
    """
    from .models import CardRefund

    if result.status == "succeeded":
        return _finish_refund(refund_id, stripe_refund_id=result.id)
    if result.status in ("failed", "canceled"):
        return _finish_refund(
            refund_id, stripe_refund_id=result.id, refused=f"Stripe reported the refund {result.status}."
        )
    CardRefund.objects.filter(pk=refund_id, status=CardRefund.Status.PENDING).update(
        stripe_refund_id=result.id, updated_at=timezone.now()
    )
    logger.info("card refund %s is %s at Stripe (%s)", refund_id, result.status, result.id)
    return CardRefund.objects.select_related("topup").get(pk=refund_id)


def _send_refund(refund, *, first_attempt: bool = True):
    from . import stripe_gateway
    from .exceptions import PaymentProviderUnavailable

    _assert_no_transaction()
    topup = refund.topup
    try:
        result = stripe_gateway.create_refund(
            payment_intent_id=topup.stripe_payment_intent_id,
            amount_minor=stripe_gateway.to_minor(refund.amount),
            idempotency_key=f"refund-{refund.id}",
            metadata={"card_refund_id": str(refund.id), "topup_id": str(topup.id)},
        )
    except PaymentProviderUnavailable:
        # We cannot know whether Stripe made it: keep the debit, keep it pending, retry later.
        logger.warning("card refund %s left pending: Stripe unreachable", refund.id)
        return refund
    except (PaymentDeclined, PaymentProviderError):
        if not first_attempt:
            # A retry's 4xx proves nothing: the first attempt may have refunded the card.
            return _needs_review(refund.id, "Stripe refused the retried refund; check it in Stripe.")
        return _finish_refund(refund.id, refused="Stripe refused the refund.")
    return apply_stripe_refund(refund.id, result)


def _finish_refund(refund_id, *, stripe_refund_id: str = "", refused: str = ""):
    """Mark a pending refund succeeded, or failed with its debit reversed (one transaction).

    A refund already marked succeeded that Stripe later reports failed is reversed too: the
    conditional status update (pending/succeeded -> failed) lets exactly one caller credit it back.
    """
    from .models import CardRefund

    user_id = CardRefund.objects.values_list("topup__user_id", flat=True).get(pk=refund_id)
    with transaction.atomic():
        _lock_user(user_id)
        refund = CardRefund.objects.select_for_update().get(pk=refund_id)
        if not refused:
            if refund.status != CardRefund.Status.PENDING:
                return refund  # another retry finished it first
            refund.status = CardRefund.Status.SUCCEEDED
            refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
            refund.failure_reason = ""
            refund.save(update_fields=["status", "stripe_refund_id", "failure_reason", "updated_at"])
            logger.info("card refund %s succeeded: %s", refund.id, refund.stripe_refund_id)
            return refund
        claimed = CardRefund.objects.filter(
            pk=refund_id,
            status__in=[CardRefund.Status.PENDING, CardRefund.Status.SUCCEEDED],
            reversal_transaction__isnull=True,
            debit_transaction__isnull=False,
        ).update(status=CardRefund.Status.FAILED)
        if claimed != 1:
            return refund  # already failed and reversed (or nothing was debited)
        refund.reversal_transaction = _apply(
            user_id=user_id,
            delta=-refund.debit_transaction.amount,
            type=TxType.REFUND,
            description=f"Refund reversed: {refused}"[:255],
            created_by=refund.requested_by,
        )
        refund.status = CardRefund.Status.FAILED
        refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
        refund.failure_reason = refused[:255]
        refund.save(
            update_fields=[
                "status", "stripe_refund_id", "reversal_transaction", "failure_reason", "updated_at"
            ]
        )
        logger.warning("card refund %s failed and was reversed: %s", refund.id, refused)
        return refund


def record_external_refund(
    *, payment_intent_id: str, charge_id: str, amount_refunded_minor: int, currency: str
):
    """Bring the ledger in line with a charge refunded outside the app (e.g. Stripe's dashboard).

    `amount_refunded_minor` is the charge's cumulative refunded total. Whatever our CardRefund rows
    (succeeded or pending) don't already account for is recorded once as a CardRefund without a
    requester and debited as type refund. The money has already left through Stripe, yet a balance
    can never go below zero: when the wallet holds less, only the balance is debited and the
    shortfall is written on the refund (failure_reason) and logged at ERROR for ops.
    Repeats and out-of-order deliveries are no-ops: the difference is computed under the locks.
    Returns the new CardRefund, or None when there was nothing new.
    """
    from . import stripe_gateway
    from .models import CardRefund

    topup_user = TopUp.objects.values_list("user_id", flat=True).get(
        stripe_payment_intent_id=payment_intent_id
    )
    with transaction.atomic():
        balance = _lock_user(topup_user)
        topup = TopUp.objects.select_for_update().get(stripe_payment_intent_id=payment_intent_id)
        if topup.status != TopUp.Status.SUCCEEDED:
            raise TopUpError("A refund for a top-up that is not settled yet.")
        if currency.lower() != topup.currency.lower():
            raise TopUpMismatch("The refunded charge's currency does not match the top-up.")
        refunded = min(stripe_gateway.from_minor(amount_refunded_minor), topup.amount)
        new = refunded - _refunds_taken(topup)
        if new <= 0:
            return None
        take = min(new, balance)
        shortfall = new - take
        refund = CardRefund.objects.create(
            topup=topup,
            amount=new,
            reason="Refunded in Stripe (outside the app)",
            requested_by=None,
            status=CardRefund.Status.SUCCEEDED,
            failure_reason=(
                f"Shortfall {shortfall:,.2f} {topup.currency}: the balance was lower than the refund."
                if shortfall
                else ""
            ),
        )
        if take > 0:
            refund.debit_transaction = _apply(
                user_id=topup.user_id,
                delta=-take,
                type=TxType.REFUND,
                description=f"Refund to card made in Stripe ({charge_id})",
                stripe_payment_intent_id=payment_intent_id,
            )
            refund.save(update_fields=["debit_transaction", "updated_at"])
    if shortfall:
        logger.error(
            "external refund on %s: %s refunded but the wallet held only %s (shortfall %s)",
            payment_intent_id, new, take, shortfall,
        )
    else:
        logger.info("external refund on %s recorded: %s", payment_intent_id, new)
    return refund
