"""Settings read once, at start-up, into typed values; the one rate-limit parser.

`netcop_hub/settings.py` reads every duration, amount, count and rate limit through the readers
below, so code uses `settings.AGENT_RUN_LOST_AFTER` as a timedelta, `settings.TOPUP_MAX_AMOUNT` as a
Decimal and `settings.TOPUP_RATE_LIMIT` as a Rate (or None when off) and never parses a string at
use time. A value that does not parse stops Django with ImproperlyConfigured naming the variable
and giving an example. An empty value (`NAME=` copied from .env.example) means "not set".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr

from decouple import config
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from .durations import parse_duration

OFF = frozenset({"off", "0", "none"})

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rate:
    """A rate limit: at most `count` requests per `seconds`-long window."""

    count: int
    seconds: int


def parse_rate(text: str) -> Rate | None:
    """"10/10m" -> Rate(10, 600); "" or "0" or "off" disables the limit (None); ValueError otherwise."""
    if not text or text.strip().lower() in OFF:
        return None
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"Bad rate limit {text!r}: use COUNT/PERIOD, e.g. 10/10m, 5/1h, 100/30s.")
    count, n, unit = match.groups()
    seconds = int(n or 1) * _RATE_UNITS[unit]
    if int(count) < 1 or seconds < 1:
        raise ValueError(f"Bad rate limit {text!r}: use COUNT/PERIOD, e.g. 10/10m, 5/1h, 100/30s.")
    return Rate(int(count), seconds)


# --- readers for settings.py ---------------------------------------------------------------------


def raw(name: str) -> str:
    """The environment's (or .env's) value, stripped; "" when unset or empty."""
    return str(config(name, default="")).strip()


def _refuse(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: {expected}")


def _duration(name: str, value: str, example: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError:
        raise _refuse(name, value, f"use a duration, e.g. 30s, 15m, 1h or 1d{example}.") from None


def required_duration(name: str, default: str) -> timedelta:
    """A duration like 30s, 15m, 1h, 1d that cannot be switched off."""
    return _duration(name, raw(name) or default, "")


def duration(name: str, default: str, *, allow_off: bool = False) -> timedelta | None:
    """A duration like 30s, 15m, 1h, 1d; with allow_off, "off" (or anything under a second) is None."""
    value = raw(name) or default
    if allow_off and value.lower() in OFF:
        return None
    parsed = _duration(name, value, ', or "off"' if allow_off else "")
    return None if allow_off and parsed < timedelta(seconds=1) else parsed


def amount(name: str, default: str) -> Decimal:
    """A positive amount with at most two decimal places, as a Decimal quantized to 0.01."""
    value = raw(name) or default
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        parsed = Decimal("NaN")
    if not parsed.is_finite() or parsed <= 0 or parsed != parsed.quantize(CENT) or "e" in value.lower():
        raise _refuse(name, value, "use a positive amount with at most two decimals, e.g. 100 or 2.50.")
    return parsed.quantize(CENT)


def integer(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number of at least `minimum`."""
    value = raw(name) or str(default)
    if not re.fullmatch(r"[0-9]+", value) or int(value) < minimum:
        raise _refuse(name, value, f"use a whole number of at least {minimum}, e.g. {max(default, minimum)}.")
    return int(value)


def rate(name: str, default: str) -> Rate | None:
    """A rate limit COUNT/PERIOD (e.g. 10/10m); "off" disables it (None)."""
    value = raw(name) or default
    try:
        return parse_rate(value)
    except ValueError:
        raise _refuse(name, value, 'use COUNT/PERIOD, e.g. 10/10m, 5/1h or 100/30s, or "off".') from None


def amount_or_off(name: str, default: str) -> Decimal | None:
    """Like amount(), but "off" (or "0", "none") disables the limit (None)."""
    value = raw(name) or default
    if value.lower() in OFF:
        return None
    return amount(name, value)
# --- documents and VAT (issue 22) -----------------------------------------------------------------

TAX_POINTS = ("topup", "usage")
PRICE_BASES = ("inclusive", "exclusive")


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (case-insensitive)."""
    value = (raw(name) or default).lower()
    if value not in choices:
        raise _refuse(name, value, f"use one of {', '.join(choices)}.")
    return value


def vat_rate(name: str, default: str) -> Decimal:
    """A VAT rate in percent, 0 to 100 with at most two decimals (5 -> Decimal("5.00"))."""
    value = raw(name) or default
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        parsed = Decimal("NaN")
    bad = not parsed.is_finite() or "e" in value.lower()
    if bad or not 0 <= parsed <= 100 or parsed != parsed.quantize(CENT):
        raise _refuse(name, value, "use a percentage from 0 to 100 with at most two decimals, e.g. 5.")
    return parsed.quantize(CENT)


def trn(name: str) -> str:
    """A UAE Tax Registration Number: 15 digits (spaces and dashes ignored), or "" when unset."""
    value = re.sub(r"[\s-]", "", raw(name))
    if value and not re.fullmatch(r"[0-9]{15}", value):
        raise _refuse(name, value, "use the 15-digit Tax Registration Number, e.g. 100123456700003.")
    return value


# --- ops addresses (OPS_EMAILS) ---------------------------------------------------------------------


def admins(name: str) -> list[tuple[str, str]]:
    """Comma-separated addresses (`ops@example.com` or `Ops <ops@example.com>`) as Django's ADMINS:
    (name, address) pairs; [] when unset. A malformed address stops Django instead of silently
    dropping the warnings meant for it."""
    found = []
    for item in raw(name).split(","):
        item = item.strip()
        if not item:
            continue
        display, address = parseaddr(item) if item.endswith(">") else ("", item)
        try:
            validate_email(address)
        except ValidationError:
            expected = "use comma-separated addresses, e.g. ops@example.com,Risk <risk@example.com>."
            raise _refuse(name, item, expected) from None
        found.append((display or address.split("@")[0], address))
    return found
