"""The balance chart when all activity is on one day (issue 18): that day's balance as a flat line
across the plot, labelled once, not a lone dot."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from wallet import services

pytestmark = pytest.mark.django_db


def test_one_day_of_activity_is_a_line_across_the_chart_not_a_dot(auth_client, user):
    services.credit(user=user, amount=Decimal("150.00"), type=services.TxType.ADJUSTMENT, description="funds")
    services.debit(user=user, amount=Decimal("20.00"), type=services.TxType.AGENT_USAGE, description="run")
    svg = re.search(r'<svg class="balance-chart".*?</svg>', auth_client.get("/wallet/history/").content.decode(),
                    re.S).group(0)
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', svg).group(1).split()
    xs = sorted(float(point.split(",")[0]) for point in points)
    ys = {point.split(",")[1] for point in points}
    left = float(re.search(r'<g class="chart-axis chart-axis-y">\s*<line x1="([\d.]+)"', svg).group(1))
    assert len(points) >= 2 and len(ys) == 1  # flat: one balance, drawn from the left edge...
    assert xs[0] == left and xs[-1] - xs[0] > 500  # ...across the plot
    today = timezone.localdate()
    assert svg.count(f">{today.day} {today:%b}</text>") == 1  # the day labelled once
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg).group(1)
    assert desc == f"End-of-day balance on {today.day} {today:%B %Y}: 130.00 AED."
