"""What an agent's runner accepts: the limits shown next to the input and enforced before the charge."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_INPUT_CHARS = 50_000


@dataclass(frozen=True)
class InputLimits:
    """A runner's input limits. `max_chars` is checked by agents.services (413 past it); each note
    is a limit in words ("Up to 25 URLs per run") that the runner's own validator enforces."""

    max_chars: int = DEFAULT_MAX_INPUT_CHARS
    notes: tuple[str, ...] = ()
