"""Domain exceptions of the agents app. Views map them to messages and status codes.

Only `user_message` attributes (written by us, never taken from a third party) reach a client;
an exception's own text is for the logs.
"""

from __future__ import annotations

from wallet.money import format_money


class AgentError(Exception):
    """Base class for agent errors."""


class AgentUnavailable(AgentError):
    """No active agent with that slug (the view answers 404)."""


class InvalidAgentInput(AgentError):
    """The input is empty, too long or not text; nothing was charged."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


class InputTooLong(InvalidAgentInput):
    """The input is over the agent's character limit (the view answers 413); nothing was charged."""

    def __init__(self, *, length: int, limit: int):
        super().__init__(too_long_message(length=length, limit=limit))
        self.length = length
        self.limit = limit


def too_long_message(*, length: int, limit: int) -> str:
    """The one over-limit message; static/js/agents.js builds the same text before posting."""
    return f"The input is too long: {length:,} characters; this agent takes up to {limit:,}."


class InvalidRequestId(AgentError):
    """The request id is missing or not a UUID."""


class RequestIdReused(AgentError):
    """The request id already belongs to a run of another agent (the view answers 409)."""


class RunNotCancellable(AgentError):
    """The run is not the user's, or a worker already took it (only a queued run can be cancelled)."""


class RunnerError(AgentError):
    """A runner could not produce an output. The run is refunded.

    `user_message` is shown to the user and must be written by us (never a remote body or a
    library's exception text); the exception's own message goes to the logs only.
    """

    default_user_message = "The agent could not complete this run."

    def __init__(self, detail: str = "", *, user_message: str | None = None):
        super().__init__(detail or self.default_user_message)
        self.user_message = user_message or self.default_user_message


class RunnerTimeout(RunnerError):
    """The agent did not answer in time."""

    default_user_message = "The agent did not answer in time."


class InsufficientBalance(AgentError):
    """The wallet does not cover the agent's price; nothing was charged (the view answers 402)."""

    def __init__(self, *, price, balance, topup_amount):
        super().__init__(f"Insufficient balance. Need {format_money(price)}.")
        self.price = price
        self.balance = balance
        self.topup_amount = topup_amount

    @property
    def shortfall(self):
        return max(self.price - self.balance, 0)

    @property
    def user_message(self) -> str:
        return (
            f"Not enough balance: this run costs {format_money(self.price)} and your wallet has "
            f"{format_money(self.balance)} ({format_money(self.shortfall)} short)."
        )

class SpendLimitReached(AgentError):
    """The run would take this month's agent spending past the user's limit; nothing was charged (402)."""

    def __init__(self, *, limit, spent):
        super().__init__(f"Monthly spend limit of {format_money(limit)} reached.")
        self.limit = limit
        self.spent = spent
