"""Where the top-up page may send a person back to (`?next=`), registered by the apps above the wallet.

An app registers a resolver for one of its URL names in its AppConfig.ready(); the wallet never names
the app. A resolver gets the URL's kwargs and returns what the page shows (a name, the price of what
the person came to buy, the link back, rebuilt from the object itself), or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.urls import Resolver404, resolve


@dataclass(frozen=True)
class ReturnTarget:
    name: str
    price: Decimal
    url: str


_RESOLVERS: dict[str, Callable[[dict[str, Any]], ReturnTarget | None]] = {}


def register(view_name: str, resolver: Callable[[dict[str, Any]], ReturnTarget | None]) -> None:
    _RESOLVERS[view_name] = resolver


def resolve_next(raw: str | None) -> ReturnTarget | None:
    """The target a `?next=` names, if it is exactly a registered page; else None.

    Anything else (another site, //host, a query, an unknown or inactive object) is ignored, and the
    link back comes from the resolver, never echoed from the request: no open redirect.
    """
    if not raw or len(raw) > 200 or not raw.startswith("/") or raw.startswith("//"):
        return None
    try:
        match = resolve(raw)
    except Resolver404:
        return None
    resolver = _RESOLVERS.get(match.view_name)
    return resolver(match.kwargs) if resolver is not None else None
