"""Wallet domain errors. Each class declares how it is answered (netcop_hub.errors.DomainError):
HTTP status, machine code, user message. Their own text is for the logs unless the class says
`text_is_user_message` (our own validation wording)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.urls import reverse

from netcop_hub.errors import DomainError

from .formatting import format_money

UNAVAILABLE = (
    "We couldn't reach the payment service. If your card was charged, your wallet will be credited "
    "automatically. Please try again in a moment."
)
PROVIDER_ERROR = "The payment could not be processed. Please try again or use another card."
MISMATCH = "This payment does not match your top-up. Our team has been alerted; nothing was credited."


class WalletError(DomainError):
    """Base class for wallet errors."""

    code = "wallet_error"


class InvalidAmount(WalletError, ValueError):
    """An amount that is not a positive Decimal with at most two places (or out of range)."""

    code = "invalid_amount"
    default_message = "Enter a valid amount."
    text_is_user_message = True  # raised with our own wording ("Top-ups must be between ...")


class BalanceLimitExceeded(InvalidAmount):
    """A credit would take the balance above WALLET_MAX_BALANCE (or above what the column can hold)."""

    code = "balance_limit_exceeded"


class InsufficientBalance(WalletError):
    """A debit would take the balance below zero; nothing was charged (402).

    The one "not enough balance" error of the project: the ledger raises it bare, a caller that
    knows the figures (an agent run) raises it with `price` and `balance`, and then the answer
    carries them, the shortfall and a link to top up what is missing (`topup_amount`).
    """

    status = 402
    code = "insufficient_balance"
    default_message = "Your balance is too low for this."

    def __init__(
        self,
        text: str = "Insufficient balance.",
        *,
        price: Decimal | None = None,
        balance: Decimal | None = None,
        topup_amount: Decimal | None = None,
    ):
        self.price = price
        self.balance = balance
        self.topup_amount = topup_amount
        message = None
        if price is not None and balance is not None:
            message = (
                f"Not enough balance: this run costs {format_money(price)} and your wallet has "
                f"{format_money(balance)} ({format_money(self.shortfall)} short)."
            )
        super().__init__(text, user_message=message)

    @property
    def shortfall(self) -> Decimal:
        if self.price is None or self.balance is None:
            return Decimal("0.00")
        return max(self.price - self.balance, Decimal("0.00"))

    def details(self) -> dict[str, Any]:
        if self.price is None or self.balance is None:
            return {}
        fields: dict[str, Any] = {
            "balance": f"{self.balance:.2f}",
            "balance_display": format_money(self.balance),
            "price": f"{self.price:.2f}",
            "price_display": format_money(self.price),
            "shortfall": f"{self.shortfall:.2f}",
            "shortfall_display": format_money(self.shortfall),
        }
        if self.topup_amount is not None:
            query = urlencode({"amount": f"{self.topup_amount:.2f}"})
            fields["topup_amount"] = f"{self.topup_amount:.2f}"
            fields["topup_url"] = f"{reverse('wallet:topup')}?{query}"
        return fields


class TopUpError(WalletError):
    """A top-up cannot proceed (bad state, not ours, mismatch)."""

    code = "topup_error"
    default_message = "This top-up cannot proceed."
    text_is_user_message = True


class TopUpMismatch(TopUpError):
    """The Stripe intent does not match our top-up record (amount, currency, owner)."""

    status = 409
    code = "topup_mismatch"
    default_message = MISMATCH
    text_is_user_message = False  # settle_topup logged both sides; the text names them


class TopUpNotFound(TopUpError):
    """No top-up of this user with that id or PaymentIntent (never ask Stripe about another's)."""

    status = 404
    code = "topup_not_found"
    default_message = "No such top-up."
    text_is_user_message = False


DECLINED = "Your card was declined."
# A declined person's first worry is whether money left the account; Stripe's decline texts
# ("Your card has insufficient funds.") do not say. A decline never captures anything.
NOTHING_CHARGED = "Nothing was charged."


class PaymentDeclined(WalletError):
    """The card was declined. `user_message` is Stripe's customer-facing text, safe to show, with
    "Nothing was charged." after it; `decline_code` is Stripe's decline code (e.g.
    authentication_required)."""

    status = 402
    code = "card_declined"
    default_message = f"{DECLINED} {NOTHING_CHARGED}"

    def __init__(self, user_message: str = DECLINED, code: str = "", *, card_fingerprint: str = ""):
        text = (user_message or DECLINED).strip()
        if NOTHING_CHARGED not in text:
            text = f"{text if text.endswith(('.', '!', '?')) else text + '.'} {NOTHING_CHARGED}"
        super().__init__(text, user_message=text)
        self.decline_code = code
        # Stripe's fingerprint of the declined card, when it gives one: declines are also counted
        # per card (TOPUP_DECLINE_CARD_LIMIT), whichever account or address tries it.
        self.card_fingerprint = card_fingerprint


class PaymentProviderUnavailable(WalletError):
    """Stripe could not be reached or answered with a server error. The TopUp stays pending;
    reconcile_topups finds out later whether an intent exists."""

    status = 503
    code = "payment_provider_unavailable"
    default_message = UNAVAILABLE
    log_level: ClassVar[int | None] = logging.WARNING


class PaymentProviderError(WalletError):
    """Stripe refused a request for a reason that is not a decline (our bug or configuration)."""

    status = 502
    code = "payment_provider_error"
    default_message = PROVIDER_ERROR
    log_level: ClassVar[int | None] = logging.ERROR


class RefundNotAllowed(WalletError):
    """A refund larger than the top-up's remainder or the wallet's balance (admin only)."""

    status = 409
    code = "refund_not_allowed"
    default_message = "This refund is not allowed."


class PaymentMethodRejected(PaymentProviderError):
    """Stripe refused the request as invalid (400/404) where the client chose the value: the payment
    method id (e.g. no such PaymentMethod). The client's error, answered like a decline."""

    status = 402
    code = "payment_method_rejected"
    log_level: ClassVar[int | None] = None  # the client's error: nothing for ops


class CardSavedElsewhere(PaymentMethodRejected):
    """The card is already saved on another customer: Stripe ties a card to one customer."""

    code = "card_saved_elsewhere"
    default_message = (
        "This card is already saved on another account, so it cannot be saved here. "
        "Nothing was charged. Pay without saving it, or use another card."
    )
    text_is_user_message = False


class AccountOnHold(WalletError):
    """The account is on hold (issue 20): it may read its history but moves no money (403)."""

    status = 403
    code = "account_on_hold"
    default_message = (
        "Your account is on hold, so payments and agent runs are paused. "
        "Contact our support team by replying to any of our emails if you think this is a mistake."
    )



class AccountOwesMoney(WalletError):
    """The account owes money after a dispute took more than its balance held (issue 20): it runs
    no agents and asks for no refund until a top-up has repaid it (403)."""

    status = 403
    code = "account_owes_money"
    default_message = (
        "Your account owes money after a card payment was disputed with your bank, so agent runs and "
        "refunds are paused. Your next top-up repays it first; reply to any of our emails with questions."
    )

    def __init__(self, text: str = "", *, owed: Decimal | None = None):
        message = None
        if owed is not None:
            message = (
                f"Your account owes {format_money(owed)} after a card payment was disputed with your "
                "bank, so agent runs and refunds are paused. Your next top-up repays it first; reply to "
                "any of our emails with questions."
            )
        super().__init__(text, user_message=message)
        self.owed = owed

    def details(self) -> dict[str, Any]:
        return {} if self.owed is None else {"owed": f"{self.owed:.2f}"}
# --- Card-testing defence (issue 20, item 3): refusals made before anything reaches Stripe ---------


class EmailNotVerified(WalletError):
    """TOPUP_REQUIRE_VERIFIED_EMAIL: the account has not opened its verification link yet (403)."""

    status = 403
    code = "email_not_verified"
    default_message = (
        "Please confirm your email address before your first top-up: open the link we emailed you. "
        "No email? Send the link again from your wallet page."
    )

    def details(self) -> dict[str, Any]:
        return {"resend_url": reverse("authentication:resend_verification")}


class TopUpsPaused(WalletError):
    """A refusal that ends at a known time: `retry_after` seconds (the answer's Retry-After header)."""

    status = 429
    code = "topups_paused"
    default_message = "Top-ups are paused for now. Nothing was charged. Please try again later."

    def __init__(self, text: str = "", *, retry_after: int, user_message: str | None = None):
        self.retry_after = max(int(retry_after), 1)
        super().__init__(text, user_message=user_message)

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class TooManyDeclines(TopUpsPaused):
    """TOPUP_DECLINE_LIMIT, TOPUP_DECLINE_IP_LIMIT or TOPUP_DECLINE_CARD_LIMIT reached (429)."""

    status = 429
    code = "too_many_declines"
    default_message = (
        "Too many declined payments, so top-ups are paused for your security. Nothing was charged. "
        "Please try again later."
    )
    log_level: ClassVar[int | None] = logging.WARNING  # a card-testing run is worth a look


class NewAccountLimitReached(TopUpsPaused):
    """NEW_ACCOUNT_TOPUP_LIMIT: a brand-new account's first-day total would pass the cap (403)."""

    status = 403
    code = "new_account_limit"
    default_message = "New accounts can add only a limited amount in their first day. Please try again later."


# --- Issue 23: promo codes ----------------------------------------------------------------------------


class PromoCodeRefused(WalletError):
    """A promo code that cannot be redeemed (unknown, expired, used up, not for this account) (400)."""

    status = 400
    code = "promo_code_refused"
    default_message = "That promo code cannot be redeemed."
    text_is_user_message = True  # raised with our own wording
