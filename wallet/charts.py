"""Server-side geometry for the balance chart: the template draws the SVG from a BalanceChart.

No JavaScript and no chart library: a polyline, an area, axes with labelled ticks, and a
<title>/<desc> that say in words what the picture shows. Floats are fine here (pixels); the
labels are formatted from the Decimal balances.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from .money import format_money

WIDTH, HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 92, 18, 14, 36
Y_TICKS = 4  # intervals on the y axis
X_LABELS = 6  # about this many date labels on the x axis


def _px(value: float) -> str:
    """A coordinate as SVG text, one decimal: "92.0" (what the template's float rendering gave, without
    its locale lookups, ~20 µs per number and ~250 numbers per chart)."""
    return str(round(value, 1))


@dataclass
class Tick:
    pos: str
    label: str
    minor: bool = False  # hidden on narrow screens, where the labels would collide
    anchor: str = "middle"  # "end" for a label at the right edge, so it does not overflow


@dataclass
class Hit:
    """A day's hover target: a full-height strip around its point, with a tooltip."""

    x: str
    width: str
    cx: str
    cy: str
    label: str  # "25 Nov 2026: 1,690.50 AED"


@dataclass
class BalanceChart:
    days: int
    currency: str
    title: str
    desc: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    right: int = WIDTH - MARGIN_RIGHT
    top: int = MARGIN_TOP
    bottom: int = HEIGHT - MARGIN_BOTTOM
    line: str = ""  # "x,y x,y ..." for <polyline points>
    area: str = ""  # a closed path under the line
    last: tuple[str, str] = ("0", "0")
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    changes: list[tuple[dt.date, Decimal]] = field(default_factory=list)  # for the text table
    changes_shown: list[tuple[str, str]] = field(default_factory=list)  # the same, as its cells' text
    hits: list[Hit] = field(default_factory=list)

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def _nice_step(maximum: float) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) so Y_TICKS steps cover `maximum`."""
    if maximum <= 0:
        return 1.0
    raw = maximum / Y_TICKS
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _amount_label(value: float, step: float) -> str:
    places = 0 if step >= 1 else 2
    return f"{value:,.{places}f}"


def _date_label(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


def _short_long_date(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def balance_chart(points: list[tuple[dt.date, Decimal]], *, days: int, currency: str) -> BalanceChart:
    """Lay out the end-of-day balances `points` (oldest first, at least one) as a line chart."""
    # All activity on one day (a new account): one point would be a lone dot in the middle. That
    # day's balance is drawn as a flat line across the plot, its date labelled once at the right.
    single_day = len(points) == 1
    if single_day:
        points = [points[0], points[0]]
    values = [value for _, value in points]
    low, high = min(values), max(values)
    first_day, first_value = points[0]
    last_day, last_value = points[-1]
    # Fewer points than days: the account is younger than the period (see balance_series).
    title = (
        f"Wallet balance over the last {days} days"
        if len(points) >= days
        else f"Wallet balance since {_long_date(first_day)}"
    )
    chart = BalanceChart(
        days=days,
        currency=currency,
        title=title,
        desc=(
            f"End-of-day balance on {_long_date(last_day)}: {format_money(last_value, currency)}."
            if single_day
            else f"End-of-day balance from {_long_date(first_day)} ({format_money(first_value, currency)}) "
            f"to {_long_date(last_day)} ({format_money(last_value, currency)}). "
            f"Lowest {format_money(low, currency)}, highest {format_money(high, currency)}."
        ),
    )
    step = _nice_step(float(high))
    y_max = step * Y_TICKS
    plot_w = chart.right - chart.left
    plot_h = chart.bottom - chart.top

    def x_at(index: int) -> float:
        return chart.left + plot_w * index / (len(points) - 1)  # two points at least (single_day)

    def y_at(value) -> float:
        return chart.bottom - plot_h * float(value) / y_max

    coords = [(round(x_at(i), 1), round(y_at(v), 1)) for i, v in enumerate(values)]
    chart.line = " ".join(f"{x},{y}" for x, y in coords)
    chart.area = (
        f"M{coords[0][0]},{chart.bottom} "
        + " ".join(f"L{x},{y}" for x, y in coords)
        + f" L{coords[-1][0]},{chart.bottom} Z"
    )
    chart.last = (_px(coords[-1][0]), _px(coords[-1][1]))
    # Hover strips reach halfway to the neighbouring points, so every x has exactly one tooltip.
    half = plot_w / (len(points) - 1) / 2
    for (day, value), (x, y) in zip(points, coords, strict=True):
        left, right = max(chart.left, x - half), min(chart.right, x + half)
        label = f"{_short_long_date(day)}: {format_money(value, currency)}"
        chart.hits.append(Hit(_px(left), _px(right - left), _px(x), _px(y), label))
    chart.y_ticks = [
        Tick(_px(y_at(step * i)), _amount_label(step * i, step)) for i in range(Y_TICKS + 1)
    ]
    every = max(1, round(len(points) / X_LABELS))
    # Label from the newest day backwards so "today" always has a label.
    indexes = [1] if single_day else sorted(range(len(points) - 1, -1, -every))
    chart.x_ticks = [
        Tick(
            _px(x_at(i)),
            _date_label(points[i][0]),
            minor=(len(points) - 1 - i) // every % 2 == 1,
            anchor="end" if x_at(i) > chart.right - 30 else "middle",
        )
        for i in indexes
    ]
    previous = None
    for day, value in points:
        if value != previous:
            chart.changes.append((day, value))
            chart.changes_shown.append((f"{day.day} {day:%b %Y}", format_money(value, currency)))
            previous = value
    return chart
