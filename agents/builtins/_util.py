"""Small helpers shared by the built-in agents."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# Second-level labels under which ccTLDs register names (co.uk, com.ae, ...). A heuristic stand-in
# for the Public Suffix List, good enough to tell "paypal.com.evil.io" from "paypal.com".
_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "ac", "edu", "ltd", "plc", "gob", "mil", "sch"}


def registrable_domain(host: str) -> str:
    """The registrable part of a host name: example.com, example.co.uk (heuristic, no network)."""
    labels = [label for label in host.lower().strip(".").split(".") if label]
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def printable(text: str, limit: int = 120) -> str:
    """Make untrusted text safe to put on one report line: no control characters, bounded length."""
    cleaned = "".join(
        ch if unicodedata.category(ch)[0] != "C" else "\N{REPLACEMENT CHARACTER}" for ch in text
    )
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return cleaned


def top(counter: Counter[K], n: int) -> list[tuple[K, int]]:
    """The n most common items, ties broken by key so reports are deterministic."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural_word or word + 's')}"
