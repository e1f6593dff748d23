"""The page config: what every page's scripts need from the server, as one JSON block.

templates/base.html renders `page_config` with `json_script` (id "page-config"; CSP forbids inline
script, a JSON data block is fine) and static/js/common.js reads it. User messages live once, here
or in the app that owns them, and reach the JavaScript through it: no copy "word for word" in JS.

The kit knows no app: an app adds its own entries from `AppConfig.ready()` with `add(...)` (the
wallet its amount-rule messages, agents its over-the-limit message). Templates in messages use
`{name}` placeholders that both Python (`str.format`) and common.js (`NetCop.message`) fill in.
"""

from __future__ import annotations

from typing import Any

SESSION_ENDED = "Your session has ended."
# netcop_hub.ratelimit answers 429 with this sentence; the page counts the wait down in it.
TOO_MANY = "Too many attempts. Try again in {wait}."
# The wait in it: "9 min 42 s", or "42 s" under a minute.
WAIT_MINUTES = "{minutes} min {seconds} s"
WAIT_SECONDS = "{seconds} s"

_MESSAGES: dict[str, str] = {
    "sessionEnded": SESSION_ENDED,
    "logInAgain": "Log in again",
    "tooMany": TOO_MANY,
    "waitMinutes": WAIT_MINUTES,
    "waitSeconds": WAIT_SECONDS,
    "tryAgainNow": "You can try again now.",
    "generic": "Something went wrong. Please try again.",
    "network": "We couldn't reach the server. Check your connection and try again.",
}
_VALUES: dict[str, Any] = {}


def add(*, messages: dict[str, str] | None = None, **values: Any) -> None:
    """Add an app's user messages (and plain values, e.g. a limit) to every page's config."""
    _MESSAGES.update(messages or {})
    _VALUES.update(values)


def page_config(request) -> dict[str, Any]:
    """Context processor: `page_config` for base.html's JSON block."""
    return {
        "page_config": {"messages": dict(_MESSAGES), **_VALUES}
    }
