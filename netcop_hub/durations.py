"""Durations, the one module: parsed from settings ("30s", "15m", "1h", "1d") and said in words
("15 minutes", "1 hour 30 minutes") for lockout, reset-link and rate-limit messages."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str | timedelta) -> timedelta:
    """'30s', '2m', '1h', '1d' (a bare number is seconds) -> timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).lower())
    if not match:
        raise ValueError(f"Not a duration: {value!r} (use e.g. 30s, 2m, 1h, 1d).")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def in_words(value: timedelta | int | float | None) -> str:
    """A timedelta (or seconds) as people say it; sub-minute parts only for durations under a minute."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return _plural(max(seconds, 1), "second")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [_plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts)
