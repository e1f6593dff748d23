"""Domain errors of the agents app. Each class declares how it is answered
(netcop_hub.errors.DomainError): HTTP status, machine code, user message.

Only `user_message` (written by us, never taken from a third party) reaches a client; an
exception's own text is for the logs. "Not enough balance" is wallet.exceptions.InsufficientBalance.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from netcop_hub.errors import DomainError
from wallet.money import format_money


class AgentError(DomainError):
    """Base class for agent errors."""

    code = "agent_error"


class AgentUnavailable(AgentError):
    """No active agent with that slug."""

    status = 404
    code = "agent_unavailable"
    default_message = "No such agent."


class InvalidAgentInput(AgentError):
    """The input is empty, too long or not text; nothing was charged."""

    code = "invalid_input"
    default_message = "Enter some text for the agent to analyse."
    text_is_user_message = True


class InputTooLong(InvalidAgentInput):
    """The input is over the agent's character limit; nothing was charged."""

    status = 413
    code = "input_too_long"

    def __init__(self, *, length: int, limit: int):
        super().__init__(too_long_message(length=length, limit=limit))
        self.length = length
        self.limit = limit

    def details(self) -> dict[str, Any]:
        return {"length": self.length, "limit": self.limit}


# The one over-limit message; agents.js fills in the same template from the page config.
TOO_LONG = "The input is too long: {length} characters; this agent takes up to {limit}."


def too_long_message(*, length: int, limit: int) -> str:
    return TOO_LONG.format(length=f"{length:,}", limit=f"{limit:,}")


class InvalidRequestId(AgentError):
    """The request id is missing or not a UUID."""

    code = "invalid_request_id"
    default_message = "This form has expired. Reload the page and try again."


class RequestIdReused(AgentError):
    """The request id already belongs to a run of another agent."""

    status = 409
    code = "request_id_reused"
    default_message = "This request id was already used for another agent. Reload the page and try again."


class RunNotCancelable(AgentError):
    """The run is not the user's, or a worker already took it (only a queued run can be canceled)."""

    status = 409
    code = "run_not_cancelable"
    default_message = "This run has already started (or finished), so it can no longer be canceled."


class RunnerError(AgentError):
    """A runner could not produce an output. The run is refunded, so this is never answered as an
    error: `user_message` becomes the failed run's message and must be written by us (never a
    remote body or a library's exception text); the exception's own text goes to the logs only.
    """

    status = 502
    code = "runner_error"
    default_message = "The agent could not complete this run."


class RunnerTimeout(RunnerError):
    """The agent did not answer in time."""

    code = "runner_timeout"
    default_message = "The agent did not answer in time."


# The way out of the spend limit, said once: the words of the one link to the billing settings (the
# refusal and the agent page's notice do not name the page again).
RAISE_LIMIT = "Raise the limit in your billing settings"


class SpendLimitReached(AgentError):
    """The run would take this month's agent spending past the user's limit; nothing was charged."""

    status = 402
    code = "spend_limit"
    default_message = "This run would go over your monthly spend limit."

    def __init__(self, *, limit, spent):
        super().__init__(
            f"Monthly spend limit of {format_money(limit)} reached.",
            user_message=(
                f"This run would go over your monthly spend limit of {format_money(limit)} "
                f"({format_money(spent)} used this month)."
            ),
        )
        self.limit = limit
        self.spent = spent

    def details(self) -> dict[str, Any]:
        settings_url = reverse("wallet:settings")
        return {
            "limit": str(self.limit),
            "spent": str(self.spent),
            "settings_url": settings_url,
            "settings_label": RAISE_LIMIT,
        }


class KeyCapReached(AgentError):
    """The run would take this month's spending through one API key past the key's own cap (issue 21);
    nothing was charged."""

    status = 402
    code = "key_cap"
    default_message = "This run would go over the API key's monthly cap."

    def __init__(self, *, limit, spent):
        super().__init__(
            f"API key cap of {format_money(limit)} reached.",
            user_message=(
                f"This run would go over this API key's monthly cap of {format_money(limit)} "
                f"({format_money(spent)} used this month)."
            ),
        )
        self.limit = limit
        self.spent = spent

    def details(self) -> dict[str, Any]:
        return {"limit": str(self.limit), "spent": str(self.spent)}
