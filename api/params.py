"""Query parameters and answers shared by the API's endpoint modules (v1, documents)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BeforeValidator

from wallet.history import MAX_FILTER_DATE, MIN_FILTER_DATE

from .schemas import Problem

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 429: Problem}


def _iso_day_only(value):
    # pydantic's lax date would take "0" (a Unix time) for 1 January 1970: only YYYY-MM-DD here.
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day_only)]


def clamp_day(value: dt.date | None) -> dt.date | None:
    """A filter day within the history's range: a day outside it filters as its nearest bound does
    (nothing is dated there)."""
    if value is None:
        return None
    return min(max(value, MIN_FILTER_DATE), MAX_FILTER_DATE)
