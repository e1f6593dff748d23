"""Queries behind the history page: filters, keyset pages, the balance series and the CSV export.

Everything here reads the ledger; nothing writes. Each function costs a fixed number of queries
whatever the number of rows, so the page stays fast for a user with 100k ledger entries.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django import forms
from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from authentication.models import ApiKey

from .models import (
    FILTER_TYPES,
    LotAllocation,
    LotKind,
    TopUp,
    TxType,
    WalletTransaction,
    kind_filter,
    ledger_kind,
)
from .money import format_money, format_signed_money

PAGE_SIZE = 50
CHART_DAYS = (30, 90)
DEFAULT_CHART_DAYS = 30
PROBLEM_TOPUPS_SHOWN = 10
CSV_CHUNK_SIZE = 2000
CENT = Decimal("0.01")

# Newest first; the id breaks ties between rows written in the same microsecond so that the
# keyset cursor (created_at, id) identifies one position exactly.
NEWEST_FIRST = ("-created_at", "-id")


# Dates a filter may name. Beyond them a day's bounds overflow datetime (9999-12-31 + 1 day, or
# 0001-01-01 moved to UTC), and no ledger row can be there anyway.
MIN_FILTER_DATE = dt.date(2000, 1, 1)
MAX_FILTER_DATE = dt.date(2100, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date between {MIN_FILTER_DATE:%Y-%m-%d} and {MAX_FILTER_DATE:%Y-%m-%d}."


def _date_input():
    return forms.DateInput(
        attrs={"type": "date", "min": MIN_FILTER_DATE.isoformat(), "max": MAX_FILTER_DATE.isoformat()}
    )


def _in_range(day: dt.date) -> None:
    if not MIN_FILTER_DATE <= day <= MAX_FILTER_DATE:
        raise forms.ValidationError(DATE_RANGE_MESSAGE, code="out_of_range")


class HistoryFilterForm(forms.Form):
    """The filters in the URL: ?type=&from=&to= (dates inclusive, in the site's time zone)."""

    type = forms.ChoiceField(label="Type", required=False, choices=[("", "All types"), *FILTER_TYPES])
    date_from = forms.DateField(label="From", required=False, widget=_date_input(), validators=[_in_range])
    date_to = forms.DateField(label="To", required=False, widget=_date_input(), validators=[_in_range])

    def add_prefix(self, field_name):
        # Render the inputs with the URL's names so a GET submit produces ?type=&from=&to=.
        return {"date_from": "from", "date_to": "to"}.get(field_name, field_name)

    def error_text(self) -> str:
        """All the form's errors as one line of plain text (for the CSV's 400)."""
        parts = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            parts += [f"{label}: {error}" if label else str(error) for error in errors]
        return " ".join(parts)

    def clean(self):
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            # Next to the field it concerns, where the eye already is.
            self.add_error("date_to", "The end date must be on or after the start date.")
        return cleaned

    @property
    def filters(self) -> dict:
        """The valid filters only (callers show no rows at all when the form is invalid)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if self.non_field_errors():
            return {"type": data.get("type") or ""}
        return {k: data.get(k) for k in ("type", "date_from", "date_to") if data.get(k)}


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def with_promotional_part(qs: QuerySet) -> QuerySet:
    """Issue 23: each row's promotional part (how much of it went into or came out of promotional
    lots), as a correlated subquery in the same SELECT: no query per row, no extra query a page."""
    part = (
        LotAllocation.objects.filter(transaction=OuterRef("pk"), lot__kind=LotKind.PROMOTIONAL)
        .order_by().values("transaction").annotate(total=Sum("amount")).values("total")
    )
    return qs.annotate(promotional_part=Subquery(part))


def _promotional_note(tx, currency: str) -> str:
    part = getattr(tx, "promotional_part", None)
    if not part:
        return ""
    part = Decimal(part).quantize(CENT)
    if abs(part) >= abs(tx.amount):
        return "Promotional credit" if tx.amount > 0 else "Paid with promotional credit"
    return f"{format_money(part, currency)} of it promotional credit"


def filtered_ledger(user, filters: dict) -> QuerySet:
    """The user's ledger rows matching `filters` (type, date_from, date_to), unordered."""
    qs = WalletTransaction.objects.filter(user=user)
    if filters.get("type"):
        # Old "refund" rows are matched by what they were (card refund, reversal, agent refund).
        qs = qs.filter(kind_filter(filters["type"]))
    if filters.get("date_from"):
        qs = qs.filter(created_at__gte=_start_of_day(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(created_at__lt=_start_of_day(filters["date_to"] + dt.timedelta(days=1)))
    return qs


# --- Keyset pagination ---------------------------------------------------------------------------
# OFFSET pagination reads and throws away every skipped row, and the page count needs a COUNT(*):
# both grow with the ledger. A cursor (created_at, id) of the edge row lets every page be one
# index range scan with LIMIT, as cheap on page 2000 as on page 1.


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def encode_cursor(created_at: dt.datetime, pk: uuid.UUID) -> str:
    micros = (created_at - EPOCH) // dt.timedelta(microseconds=1)  # exact, no float
    return f"{micros}_{pk.hex}"


def decode_cursor(value: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """Parse a cursor; anything malformed gives None (the first page) rather than an error."""
    if not value or len(value) > 80:
        return None
    try:
        micros_text, hex_id = value.split("_", 1)
        micros = int(micros_text)
        pk = uuid.UUID(hex=hex_id)
        when = EPOCH + dt.timedelta(microseconds=micros)
    except (ValueError, OverflowError, OSError):
        return None
    return when, pk


@dataclass
class LedgerPage:
    rows: list
    newer_cursor: str | None  # ?after=  (the page of newer rows), None on the first page
    older_cursor: str | None  # ?before= (the page of older rows), None on the last page
    is_first: bool
    # Position of the first row shown (1-based) and of the last, and the total; start is 0 when the
    # page lies beyond the newest COUNT_CAP rows; with total_capped, total is a lower bound.
    start: int = 0
    end: int = 0
    total: int = 0
    total_capped: bool = False


# Counts stop here: "1–50 of 1,000+". An exact COUNT(*) reads every matching row (20 ms for 100k,
# on every page view), while counting at most COUNT_CAP + 1 rows is a short index range.
COUNT_CAP = 1000


def _capped_count(qs: QuerySet) -> int:
    # A sliced count is SELECT COUNT(*) FROM (SELECT id ... LIMIT n): it stops after n rows.
    return qs.order_by()[: COUNT_CAP + 1].count()


def count_position(qs: QuerySet, page: LedgerPage) -> LedgerPage:
    """Fill in "start–end of total" for a page of `qs`: one capped COUNT, two on a later page.

    Both counts stop after COUNT_CAP + 1 rows, so their cost does not grow with the ledger; past
    the cap the page says "of 1,000+", and a page beyond the newest COUNT_CAP rows has no start.
    """
    total = _capped_count(qs)
    page.total_capped = total > COUNT_CAP
    page.total = min(total, COUNT_CAP)
    if not page.rows:
        return page
    newer = 0
    if not page.is_first:
        first = page.rows[0]
        newer = _capped_count(
            qs.filter(Q(created_at__gt=first.created_at) | Q(created_at=first.created_at, id__gt=first.pk))
        )
        if newer > COUNT_CAP:
            return page
    page.start = newer + 1
    page.end = newer + len(page.rows)
    if page.total_capped:
        # The last page knows the exact total; any other says at least as many as it shows.
        page.total_capped = page.older_cursor is not None
        page.total = max(page.total, page.end) if page.total_capped else page.end
    return page


def ledger_page(qs: QuerySet, *, before: str | None = None, after: str | None = None) -> LedgerPage:
    """One page of `qs`, newest first: the first page, the page older than `before`, or newer
    than `after`. One query (PAGE_SIZE + 1 rows tell whether there is more)."""
    after_key = decode_cursor(after)
    before_key = None if after_key else decode_cursor(before)
    if after_key:
        when, pk = after_key
        chunk = list(
            qs.filter(Q(created_at__gt=when) | Q(created_at=when, id__gt=pk)).order_by("created_at", "id")[
                : PAGE_SIZE + 1
            ]
        )
        more_newer = len(chunk) > PAGE_SIZE
        rows = chunk[:PAGE_SIZE][::-1]
        # We came from an older page, so there is one (unless the cursor row itself is gone).
        more_older = True
    else:
        if before_key:
            when, pk = before_key
            qs = qs.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=pk))
        chunk = list(qs.order_by(*NEWEST_FIRST)[: PAGE_SIZE + 1])
        more_older = len(chunk) > PAGE_SIZE
        rows = chunk[:PAGE_SIZE]
        more_newer = before_key is not None
    return LedgerPage(
        rows=rows,
        newer_cursor=encode_cursor(rows[0].created_at, rows[0].pk) if rows and more_newer else None,
        older_cursor=encode_cursor(rows[-1].created_at, rows[-1].pk) if rows and more_older else None,
        is_first=not more_newer,
    )


@dataclass(frozen=True, slots=True)
class ShownRow:
    """A ledger row as the page shows it, its dates and amounts formatted once here.

    The template's date and money filters cost ~35 µs a cell (locale and time-zone lookups on
    every call); for 50 rows that was about a quarter of the page. Same text as the filters gave.
    """

    pk: uuid.UUID
    when_iso: str  # <time datetime=...>
    when: str  # "7 Dec 2026, 14:05" in the site's time zone
    kind: str
    kind_label: str
    description: str
    is_credit: bool
    amount: str  # "+100.00 AED" / "−5.00 AED"
    balance_after: str
    stripe_payment_intent_id: str
    api_key: str = ""  # issue 21: "name (ncw_live_ab12cd34…)" for a row an API key caused
    promotional_note: str = ""  # issue 23: which lots paid ("" when all paid money)


def shown_rows(rows: list[WalletTransaction]) -> list[ShownRow]:
    """The page's rows ready for the template (no queries)."""
    tz = timezone.get_current_timezone()
    currency = settings.WALLET_CURRENCY
    # One query, only for a page that has rows an API key caused (none on most pages).
    key_ids = {tx.api_key_id for tx in rows if tx.api_key_id is not None}
    labels = api_key_labels(ApiKey.objects.filter(pk__in=key_ids)) if key_ids else {}
    shown = []
    for tx in rows:
        local = timezone.localtime(tx.created_at, tz)
        kind = tx.kind
        shown.append(
            ShownRow(
                pk=tx.pk,
                when_iso=local.isoformat(),
                when=f"{local.day} {local:%b %Y, %H:%M}",
                kind=kind,
                kind_label=TxType(kind).label,
                description=tx.description,
                is_credit=tx.amount > 0,
                amount=format_signed_money(tx.amount, currency),
                balance_after=format_money(tx.balance_after, currency),
                stripe_payment_intent_id=tx.stripe_payment_intent_id,
                api_key=labels.get(tx.api_key_id, "") if tx.api_key_id is not None else "",
                promotional_note=_promotional_note(tx, currency),
            )
        )
    return shown


def api_key_labels(keys) -> dict[int, str]:
    """{key id: "name (prefix…)"}: how the history and its CSV name the API key behind a row."""
    return {k.pk: f"{k.name} ({k.prefix}…)" for k in keys}


def problem_topups(user) -> list[TopUp]:
    """The user's latest card payments that did not (or not yet) add money: one query."""
    return list(
        TopUp.objects.filter(user=user)
        .exclude(status=TopUp.Status.SUCCEEDED)
        .order_by("-created_at")
        .only("id", "amount", "currency", "status", "stripe_payment_intent_id", "created_at", "is_automatic",
              "card_label")[
            :PROBLEM_TOPUPS_SHOWN
        ]
    )


# --- Balance over time ---------------------------------------------------------------------------


def chart_days(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_CHART_DAYS
    return days if days in CHART_DAYS else DEFAULT_CHART_DAYS


@dataclass
class BalanceSeries:
    # One per day, oldest first, the balance at day's end; from the account's first activity when
    # that is within the period.
    points: list[tuple[dt.date, Decimal]]
    has_history: bool  # False: the user never had a ledger row up to today


def balance_series(user, days: int, today: dt.date | None = None) -> BalanceSeries:
    """End-of-day balance for the last `days` days (today included), computed in the database.

    The balance at the end of a day is the balance_after of the last row before the next
    midnight. One query asks that for every day (plus the opening balance): the midnights are a
    VALUES list and one correlated subquery probes the (user, -created_at, -id) index for each,
    so the cost grows with the number of days shown, not with the rows in the range. (One scalar
    subquery per day, as before, made PostgreSQL plan 31 or 91 of them: 1.8 ms and 13 ms, against
    0.8 ms and 2.1 ms now.) Plain SQL, which the ORM cannot say; SQLite runs it too.
    """
    today = today or timezone.localdate()
    first_day = today - dt.timedelta(days=days - 1)
    moments = [_start_of_day(first_day + dt.timedelta(days=offset)) for offset in range(days + 1)]
    table = connection.ops.quote_name(WalletTransaction._meta.db_table)
    params: list = []
    for offset, moment in enumerate(moments):
        # Adapted as the ORM would (SQLite compares UTC text, PostgreSQL timestamptz).
        params += [offset, connection.ops.adapt_datetimefield_value(moment)]
    params.append(user.pk)
    # The table name comes from model metadata (quoted); the values are parameters.
    sql = (
        "WITH moments (i, m) AS (VALUES " + ", ".join(["(%s, %s)"] * len(moments)) + ") "  # noqa: S608 # nosec B608
        f"SELECT (SELECT t.balance_after FROM {table} t WHERE t.user_id = %s AND t.created_at < moments.m "
        "ORDER BY t.created_at DESC, t.id DESC LIMIT 1) FROM moments ORDER BY i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        opening, *closing = [value for (value,) in cursor.fetchall()]
    has_history = opening is not None or any(value is not None for value in closing)
    points = [
        (first_day + dt.timedelta(days=offset), Decimal(value or 0).quantize(CENT))
        for offset, value in enumerate(closing)
    ]
    if opening is None and has_history:
        # A young account: start at its first day with activity, not with days of zeros and a
        # cliff up to the first top-up. (No row before a day's end means no activity up to then.)
        first_active = next(i for i, value in enumerate(closing) if value is not None)
        points = points[first_active:]
    return BalanceSeries(points=points, has_history=has_history)


# --- CSV export ----------------------------------------------------------------------------------

CSV_HEADER = [
    "Date",
    "Transaction ID",
    "Type",
    "Description",
    "Amount",
    "Currency",
    "Balance after",
    "Stripe PaymentIntent",
    "API key",  # issue 21: the key that caused the row (empty for the pages)
    "Promotional part",
]
# Spreadsheets treat a cell starting with one of these as a formula (CWE-1236).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Neutralise a text cell that a spreadsheet would run as a formula, by a leading quote."""
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _utc(text: str) -> dt.datetime:
    # PostgreSQL gives "2026-12-07 10:03:41.130846+00" (the connection's zone is UTC), SQLite the
    # same text without the offset (it stores UTC).
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _signed_part(part, amount) -> str:
    """A row's promotional part signed like its amount; 0.00 when the row was all paid money."""
    if not part:
        return "0.00"
    return f"{(Decimal(part) * (1 if amount > 0 else -1)).quantize(CENT):f}"


def csv_rows(qs: QuerySet, currency: str) -> Iterator[str]:
    """Yield the CSV text of `qs`, newest first, CSV_CHUNK_SIZE lines at a time (constant memory).

    Text columns go through csv_safe. The amount columns are numbers we format ourselves
    ("-5.00", "12.50"): they are written as plain decimals so spreadsheets sum them, and are
    left unescaped on purpose, since a leading quote would turn -5.00 into text.

    created_at is read as text and parsed here: psycopg's timestamptz loader cost 0.46 s per
    100k rows, fromisoformat a tenth of that. One string per chunk rather than one per line
    saves the response 100k small writes.
    """
    # Each type's label made safe once, not once per row.
    type_labels = {kind: csv_safe(label) for kind, label in TxType.choices}
    tz = timezone.get_current_timezone()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue()
    # Issue 23: the promotional part of each row, read once up front for the whole export (rows that
    # touched promotional credit are few): a correlated subquery per row cost 100k index probes.
    promo_parts = {
        str(transaction_id): total
        for transaction_id, total in LotAllocation.objects.filter(
            transaction__in=qs.values("pk"), lot__kind=LotKind.PROMOTIONAL
        )
        .order_by()
        .values("transaction_id")
        .annotate(total=Sum("amount"))
        .values_list("transaction_id", "total")
    }
    rows = qs.order_by(*NEWEST_FIRST).values_list(
        Cast("created_at", output_field=TextField()),
        # PostgreSQL writes the id's text itself (building a UUID per row, then its text, cost 0.3 s
        # per 100k rows); SQLite stores it without hyphens, so there it is read as a UUID.
        Cast("id", output_field=TextField()) if connection.vendor == "postgresql" else "id",
        "type",
        "description",
        "amount",
        "balance_after",
        "stripe_payment_intent_id",
        "api_key_id",
    )
    KEY_COLUMN = 7  # api_key_id in the values() above
    key_labels: dict[int, str] = {}
    lines = rows.iterator(chunk_size=CSV_CHUNK_SIZE)
    while chunk := list(islice(lines, CSV_CHUNK_SIZE)):
        # The API keys named in this chunk and not yet known: one small query, and none at all for
        # a ledger no key has touched (the export stays one read of the ledger).
        missing = {row[KEY_COLUMN] for row in chunk if row[KEY_COLUMN] not in (None, *key_labels)}
        if missing:
            key_labels.update(api_key_labels(ApiKey.objects.filter(pk__in=missing)))
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(
            [
                # ISO 8601 with the UTC offset: unambiguous in any spreadsheet or time zone.
                _utc(created_at).astimezone(tz).isoformat(timespec="seconds"),
                str(pk),
                type_labels.get(ledger_kind(tx_type, amount, description)) or csv_safe(tx_type),
                csv_safe(description),
                f"{Decimal(amount).quantize(CENT):f}",
                currency,
                f"{Decimal(balance_after).quantize(CENT):f}",
                csv_safe(intent),
                csv_safe(key_labels.get(key_id, "")),
                # Signed like the amount; 0.00 when the row was all paid money.
                _signed_part(promo_parts.get(str(pk)), amount) if promo_parts else "0.00",
            ]
            for created_at, pk, tx_type, description, amount, balance_after, intent, key_id in chunk
        )
        yield buffer.getvalue()
