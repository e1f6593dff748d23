"""Errors that answer for themselves (the model is Zulip's JsonableError).

A domain error declares, on its class, the HTTP status it is answered with, a stable machine `code`
(snake_case, for scripts and API clients), the message the user reads and, where it matters, the
level it is logged at. `netcop_hub.http` turns any of them into the JSON answer
(`{"error": user_message, "code": code, **details()}`) or a page; views let them propagate.

`user_message` is always written by us: the default of the class, a text the raiser passes as
`user_message=`, or (only for classes that say `text_is_user_message`) the exception's own text,
which those classes are raised with from our own validation. An exception's text otherwise, a
stack or a third party's words never reach a client: they are for the logs.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a client may be answered with."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "This request could not be completed."
    # logging level (e.g. logging.WARNING) for errors ops should see; None: the answer is enough.
    log_level: ClassVar[int | None] = None
    # True where the exception is raised with a text written for the user (our own validation).
    text_is_user_message: ClassVar[bool] = False

    def __init__(self, text: str = "", *, user_message: str | None = None):
        super().__init__(text or user_message or self.default_message)
        if user_message is None:
            user_message = text if text and self.text_is_user_message else self.default_message
        self.user_message = user_message

    def details(self) -> dict[str, Any]:
        """Extra JSON fields of the answer (figures the page needs); none by default."""
        return {}


class NotAuthenticated(DomainError):
    """A JSON endpoint called without a session (it ended while the page was open): 401, never a
    redirect to the log-in page that a script could not follow."""

    status = 401
    code = "not_authenticated"
    default_message = "Please log in again."
