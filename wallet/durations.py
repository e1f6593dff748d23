"""Durations written in settings: '30s', '2m', '1h', '1d'."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value) -> timedelta:
    """'30s', '2m', '1h', '1d' (a bare number is seconds) -> timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).lower())
    if not match:
        raise ValueError(f"Not a duration: {value!r} (use e.g. 30s, 2m, 1h, 1d).")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
