"""Calling a runner: the one place an agent's work is done, for inline runs (agents.services) and
queued runs (agents.queue) alike. No database, no lock, no transaction: callers record the result."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .exceptions import RunnerError
from .models import Agent
from .reports import Report
from .runners import REGISTRY

logger = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 200_000
GENERIC_FAILURE = "The agent could not complete this run."
MISCONFIGURED = "This agent is misconfigured."


@dataclass(frozen=True)
class Computed:
    """A runner's result: the plain-text output and the structured report, or the user's message."""

    output: str = ""
    # The report as JSON (AgentRun.report); None for runners that answer plain text.
    report: dict | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _valid_text(text: str) -> str:
    # PostgreSQL text and jsonb refuse NUL and lone surrogates.
    return text.replace("\x00", "\N{REPLACEMENT CHARACTER}").encode("utf-8", "replace").decode("utf-8")


def _clean_output(output: str) -> str:
    # Storable, and capped in size.
    output = _valid_text(output)
    if len(output) > MAX_OUTPUT_CHARS:
        output = output[:MAX_OUTPUT_CHARS] + "\n[output truncated]"
    return output


def _storable(value):
    """The report as PostgreSQL's jsonb takes it: every string without NUL or lone surrogate (the
    built-ins pass what they quote from the input through `printable`; this is the net under a
    runner's slip). Cleaned value by value: cleaning the JSON text would break escapes such as a
    quoted backslash followed by "u0000"."""
    if isinstance(value, str):
        return _valid_text(value)
    if isinstance(value, dict):
        return {_valid_text(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def compute(*, agent: Agent, input_text: str, label: str = "") -> Computed:
    """Run the agent's runner on the input. A runner error, a crash or an empty answer is a failed
    result carrying the message the user may see (details go to the log, never to the user)."""
    label = label or agent.slug
    spec = REGISTRY.get(agent.runner)
    try:
        if spec is None:
            raise RunnerError(f"unknown runner {agent.runner!r}", user_message=MISCONFIGURED)
        result = spec(input_text, dict(agent.config or {}))
        # Built-ins answer a Report; an external service (http) or a plain runner answers text.
        if isinstance(result, str):
            result = Report.plain(result)
        report = result if isinstance(result, Report) else None
        if report is None or not report.text.strip():
            raise RunnerError(f"runner {agent.runner!r} returned {type(result).__name__}, not a report")
        structure = _storable(report.to_json()) if report.structured else None
    except RunnerError as exc:
        logger.warning("agent run %s failed: %s", label, exc)
        return Computed(error=exc.user_message)
    except Exception:
        # A bug in a runner must not keep the user's money: log it, answer generically.
        logger.exception("agent run %s crashed", label)
        return Computed(error=GENERIC_FAILURE)
    return Computed(output=_clean_output(report.text), report=structure)
