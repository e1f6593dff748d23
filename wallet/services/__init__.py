"""The only code that changes a wallet balance, one module per concern.

- ledger:  credit, debit, adjust, and apply_change (the one balance UPDATE with its ledger row);
- topups:  start_topup, charge_and_settle (the one charge path, shared with auto-recharge),
           settle_topup (the one door from a PaymentIntent to balance), finish_topup/cancel_topup for
           a top-up left at 3-D Secure, and the helpers that find or mark a top-up;
- cards:   saved cards and the Stripe Customer; billing: settings, low-balance alert, auto-recharge
           (a receiver of wallet.signals.balance_changed, connected in WalletConfig.ready);
- stripe_events: what a verified webhook event does (process_event);
- refunds: refunds to the card (refund_topup and its retries) and refunds made in Stripe;
- disputes: chargebacks taken from the wallet once (owed when the balance is short, repaid first by
            the next top-up credit, given back when won); chargebacks: what the webhook and
            reconciliation do with a Dispute or early fraud warning; holds: account holds and the
            checks every money service makes; dispute_evidence: evidence for the bank (issue 20).

Callers use the package (`from wallet import services; services.credit(...)`); the names below are
the public API. Tests that replace a function patch it in the module that looks it up (e.g.
`wallet.services.ledger.apply_change`, `wallet.services.topups.settle_topup`).
"""

from ..models import TxType
from ..money import CENT, MAX_AMOUNT, parse_amount, to_money
from .card_testing import needs_verified_email, record_decline
from .ledger import adjust, apply_change, credit, debit, lock_user, max_balance, positive, room_for
from .lots import Draw, Fill, Return
from .lots import balances as credit_balances
from .refunds import (
    NEEDS_REVIEW,
    REFUND_RETRY_WINDOW,
    RefundAlreadySubmitted,
    apply_stripe_refund,
    record_external_refund,
    refund_topup,
    refundable_amount,
    retry_pending_refund,
    return_uncredited,
)
from .stripe_events import InvalidWebhook, process_event, verify_event
from .topups import (
    SettleResult,
    attach_intent_by_metadata,
    browser_config,
    cancel_topup,
    charge_and_settle,
    finish_topup,
    mark_topup,
    settle_topup,
    start_topup,
    validate_topup_amount,
)

__all__ = [
    "Draw",
    "Fill",
    "Return",
    "needs_verified_email",
    "record_decline",
    "CENT",
    "InvalidWebhook",
    "MAX_AMOUNT",
    "NEEDS_REVIEW",
    "REFUND_RETRY_WINDOW",
    "RefundAlreadySubmitted",
    "SettleResult",
    "TxType",
    "adjust",
    "apply_change",
    "apply_stripe_refund",
    "attach_intent_by_metadata",
    "browser_config",
    "cancel_topup",
    "charge_and_settle",
    "credit",
    "credit_balances",
    "debit",
    "finish_topup",
    "lock_user",
    "mark_topup",
    "max_balance",
    "parse_amount",
    "positive",
    "process_event",
    "record_external_refund",
    "refund_topup",
    "refundable_amount",
    "retry_pending_refund",
    "return_uncredited",
    "room_for",
    "settle_topup",
    "start_topup",
    "to_money",
    "validate_topup_amount",
    "verify_event",
]
