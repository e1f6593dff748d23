"""Issue 12: money formatted one way everywhere (#11) and the history page's layout and chart (#10)."""

import datetime as dt
import re
import uuid
from decimal import Decimal
from unittest import mock

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from wallet import history, services
from wallet.models import TopUp, TxType

pytestmark = pytest.mark.django_db

LEDGER = "/admin/wallet/wallettransaction/"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    return client


# --- #11 one money format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected, signed",
    [
        (Decimal("1234.5"), "1,234.50 AED", "+1,234.50 AED"),
        (Decimal("-99999"), "\u221299,999.00 AED", "\u221299,999.00 AED"),
        (Decimal("0"), "0.00 AED", "0.00 AED"),
        ("12.30", "12.30 AED", "+12.30 AED"),
        (None, "", ""),
        ("abc", "", ""),
    ],
)
def test_money_filters_use_format_money(value, expected, signed):
    out = Template("{% load money %}[{{ v|money }}|{{ v|signed_money }}]").render(Context({"v": value}))
    assert out == f"[{expected}|{signed}]"


def test_object_titles_are_money_without_a_user_id(user, make_user):
    row = services.credit(user=user, amount="1234.50", type=TxType.ADJUSTMENT, description="x")
    assert str(row) == "Adjustment +1,234.50 AED"
    debit = services.debit(user=user, amount="1000", type=TxType.AGENT_USAGE)
    assert str(debit) == "Agent usage \u22121,000.00 AED"
    topup = TopUp.objects.create(user=user, amount=Decimal("2500"), currency="AED", idempotency_key="k")
    assert str(topup) == "Top-up 2,500.00 AED (pending)"
    assert f"({user.pk})" not in str(row)


def test_topup_description_uses_format_money(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="1000", payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.topup.credit_transaction.description == "Card top-up 1,000.00 AED"


def test_admin_ledger_columns_and_totals_have_thousands_separators(admin_client, user):
    services.credit(user=user, amount="12345.60", type=TxType.ADJUSTMENT, description="big")
    services.debit(user=user, amount="1000", type=TxType.AGENT_USAGE)
    body = admin_client.get(LEDGER).content.decode()
    assert "+12,345.60 AED" in body and "\u22121,000.00 AED" in body and "11,345.60 AED" in body
    assert 'data-total="net"><strong>11,345.60 AED' in body
    assert "12345.60" not in body
    change = admin_client.get(reverse("admin:authentication_user_change", args=[user.pk])).content.decode()
    table = re.search(r'<table class="ledger-mini".*?</table>', change, re.S).group(0)
    assert "+12,345.60 AED" in table and "\u22121,000.00 AED" in table


# --- #10 history page ----------------------------------------------------------------------------

HISTORY = "/wallet/history/"


def _at(when):
    return mock.patch("django.utils.timezone.now", return_value=when)


def test_chart_starts_at_the_first_activity_with_a_tooltip_per_point(auth_client, user):
    five_days_ago = timezone.now() - dt.timedelta(days=5)
    with _at(five_days_ago):
        services.credit(user=user, amount="1000.00", type=TxType.ADJUSTMENT, description="first")
    services.debit(user=user, amount="250.00", type=TxType.AGENT_USAGE, description="spent")
    series = history.balance_series(user, 30)
    assert series.points[0] == (timezone.localdate(five_days_ago), Decimal("1000.00"))
    assert len(series.points) == 6 and series.points[-1][1] == Decimal("750.00")

    body = auth_client.get(HISTORY).content.decode()
    svg = re.search(r"<svg class=\"balance-chart\".*?</svg>", body, re.S).group(0)
    first = timezone.localdate(five_days_ago)
    assert f"Wallet balance since {first.day} {first:%B %Y}</title>" in svg
    assert "Lowest 750.00 AED" in re.search(r"<desc[^>]*>(.*?)</desc>", svg).group(1)  # no day of zeros
    labels = re.findall(r'<g class="chart-hit" data-label="([^"]+)">\s*<title>([^<]+)</title>', svg)
    assert len(labels) == 6 and all(a == b for a, b in labels)
    assert labels[0][0] == f"{first.day} {first:%b %Y}: 1,000.00 AED"
    today = timezone.localdate()
    assert labels[-1][0] == f"{today.day} {today:%b %Y}: 750.00 AED"


def test_an_older_account_fills_the_whole_period(user):
    with _at(timezone.now() - dt.timedelta(days=100)):
        services.credit(user=user, amount="5.00", type=TxType.ADJUSTMENT, description="old")
    assert len(history.balance_series(user, 30).points) == 30


def test_invalid_range_error_sits_at_its_field_and_lists_no_rows(auth_client, user):
    services.credit(user=user, amount="5.00", type=TxType.ADJUSTMENT, description="x")
    body = auth_client.get(HISTORY, {"from": "2026-03-05", "to": "2026-03-01"}).content.decode()
    field = re.search(r'<div class="field field-invalid">.*?</div>\s*</div>', body, re.S).group(0)
    assert 'name="to"' in field and "The end date must be on or after the start date." in field
    assert 'aria-invalid="true"' in field
    assert "data-tx-id" not in body and 'class="form-errors"' not in body
    assert "Export CSV" not in body  # it would only answer 400


def test_pagination_says_where_you_are_and_page_two_is_just_rows(auth_client, user):
    for i in range(120):
        services.credit(user=user, amount="1.00", type=TxType.ADJUSTMENT, description=f"row {i}")
    TopUp.objects.create(user=user, amount=Decimal("5.00"), currency="AED", idempotency_key="p")
    first = auth_client.get(HISTORY).content.decode()
    assert "data-pager-position>1–50 of 120<" in first
    assert "balance-chart" in first and "history-topups" in first
    older = re.search(r'href="\?before=([^"]+)" rel="next"', first).group(1)
    second = auth_client.get(HISTORY, {"before": older}).content.decode()
    assert "data-pager-position>51–100 of 120<" in second
    assert "balance-chart" not in second and "history-topups" not in second
    older = re.search(r'href="\?before=([^"]+)" rel="next"', second).group(1)
    third = auth_client.get(HISTORY, {"before": older}).content.decode()
    assert "data-pager-position>101–120 of 120<" in third
    newer = re.search(r'href="\?after=([^"]+)" rel="prev"', third).group(1)
    assert "data-pager-position>51–100 of 120<" in auth_client.get(HISTORY, {"after": newer}).content.decode()
    filtered = auth_client.get(HISTORY, {"type": "agent_usage"}).content.decode()
    assert "data-tx-id" not in filtered


def test_export_sits_in_the_table_header_above_the_filters(auth_client, user):
    services.credit(user=user, amount="5.00", type=TxType.ADJUSTMENT, description="x")
    body = auth_client.get(HISTORY).content.decode()
    head = re.search(r'<div class="history-tx-head">.*?</div>', body, re.S).group(0)
    assert "Export CSV" in head and body.index("history-tx-head") < body.index("history-filters")


def test_counts_stop_at_the_cap_and_say_so(auth_client, user, monkeypatch):
    # Counting every row of a big ledger on each page view was 20 ms at 100k rows: counts stop at
    # COUNT_CAP (1,000; 100 here) and the page says "of 100+".
    monkeypatch.setattr(history, "COUNT_CAP", 100)
    for i in range(120):
        services.credit(user=user, amount="1.00", type=TxType.ADJUSTMENT, description=f"row {i}")
    first = auth_client.get(HISTORY).content.decode()
    assert "data-pager-position>1–50 of 100+<" in first
    older = re.search(r'href="\?before=([^"]+)" rel="next"', first).group(1)
    second = auth_client.get(HISTORY, {"before": older}).content.decode()
    assert "data-pager-position>51–100 of 100+<" in second
    older = re.search(r'href="\?before=([^"]+)" rel="next"', second).group(1)
    third = auth_client.get(HISTORY, {"before": older}).content.decode()
    assert "data-pager-position>101–120 of 120<" in third  # the last page knows the total
    # Beyond the cap the position itself is not counted.
    monkeypatch.setattr(history, "COUNT_CAP", 40)
    second = auth_client.get(HISTORY, {"before": re.search(r'before=([^"]+)" rel="next"', first).group(1)})
    assert "data-pager-position>Older than the newest 40<" in second.content.decode()
    assert "data-pager-position>1–50 of 50+<" in auth_client.get(HISTORY).content.decode()  # never fewer than shown
