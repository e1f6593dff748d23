"""Domain exceptions. Views map them to messages and status codes; their text is never sent as-is."""


class WalletError(Exception):
    """Base class for wallet errors."""


class InvalidAmount(WalletError, ValueError):
    """An amount that is not a positive Decimal with at most two places (or out of range)."""


class BalanceLimitExceeded(InvalidAmount):
    """A credit would take the balance above WALLET_MAX_BALANCE (or above what the column can hold)."""


class InsufficientFunds(WalletError):
    """A debit would take the balance below zero."""


class TopUpError(WalletError):
    """A top-up cannot proceed (bad state, not ours, mismatch)."""


class TopUpMismatch(TopUpError):
    """The Stripe intent does not match our top-up record (amount, currency, owner)."""


class PaymentDeclined(WalletError):
    """The card was declined. `user_message` is Stripe's customer-facing text, safe to show."""

    def __init__(self, user_message: str = "Your card was declined.", code: str = ""):
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code


class PaymentProviderUnavailable(WalletError):
    """Stripe could not be reached or answered with a server error."""


class PaymentProviderError(WalletError):
    """Stripe refused a request for a reason that is not a decline (our bug or configuration)."""


class RefundNotAllowed(WalletError):
    """A refund larger than the top-up's remainder or the wallet's balance."""


class PaymentMethodRejected(PaymentProviderError):
    """Stripe refused the request as invalid (400/404) where the client chose the value: the payment
    method id (e.g. no such PaymentMethod). The client's error, answered like a decline."""
