"""Durations in words ("15 minutes", "1 hour 30 minutes"), for lockout and rate-limit messages."""

from datetime import timedelta


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
