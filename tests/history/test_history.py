"""History page: keyset pages, filters, CSV export, balance chart, copy buttons, query counts."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from wallet import history, services
from wallet.charts import balance_chart
from wallet.models import TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

URL = "/wallet/history/"
CSV_URL = "/wallet/history/export.csv"


def credit(user, amount, description="", type=TxType.ADJUSTMENT, **kw):
    return services.credit(user=user, amount=Decimal(amount), type=type, description=description, **kw)


def debit(user, amount, description="", type=TxType.AGENT_USAGE):
    return services.debit(user=user, amount=Decimal(amount), type=type, description=description)


def at(when):
    """Write ledger rows (through the services) as if it were `when`."""
    return mock.patch("django.utils.timezone.now", return_value=when)


def rows_in(response):
    return re.findall(r'data-tx-id="([0-9a-f-]+)"', response.content.decode())


def csv_lines(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_login_required(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(CSV_URL).status_code == 302


def test_url_names():
    assert reverse("wallet:history") == URL
    assert reverse("wallet:history_csv") == CSV_URL


# --- The page --------------------------------------------------------------------------------------


def test_new_user_sees_empty_states_that_say_what_to_do(auth_client):
    response = auth_client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert "No transactions yet." in body
    assert reverse("wallet:topup") in body
    assert "Your balance chart will appear here." in body
    assert '<svg class="balance-chart"' not in body  # (the logo is an inline SVG too)
    assert "Card payments in progress / failed" not in body


def test_rows_show_date_type_description_signed_amounts_balance_and_copy_buttons(auth_client, user):
    top = credit(user, "100.00", "Card top-up", type=TxType.TOP_UP, stripe_payment_intent_id="pi_abc123")
    use = debit(user, "5.25", "Port scan")
    body = auth_client.get(URL).content.decode()
    assert rows_in(auth_client.get(URL)) == [str(use.pk), str(top.pk)]  # newest first
    assert "Current balance" in body and "94.75 AED" in body
    local = timezone.localtime(use.created_at)
    assert local.strftime("%H:%M") in body and str(local.year) in body
    assert "Top-up" in body and "Agent usage" in body and "Port scan" in body
    assert re.search(r'class="num history-amount amount-credit">\s*<span class="visually-hidden">Credit</span>\s*\+100\.00 AED', body)
    assert re.search(r'class="num history-amount amount-debit">\s*<span class="visually-hidden">Debit</span>\s*\u22125\.25 AED', body)
    assert "94.75 AED" in body and "100.00 AED" in body
    # One copy button per transaction id, and one for the PaymentIntent of the top-up only.
    assert f'data-copy="{use.pk}"' in body and f'data-copy="{top.pk}"' in body
    assert body.count('data-copy="pi_abc123"') == 1
    assert body.count(">Copy payment ID</button>") == 1
    assert 'id="copy-status"' in body and 'aria-live="polite"' in body
    assert "js/history.js" in body and "<script>" not in body


def test_only_my_rows(auth_client, user, make_user):
    other = make_user(balance=Decimal("7.00"))
    mine = credit(user, "1.00")
    ids = rows_in(auth_client.get(URL))
    assert ids == [str(mine.pk)]
    assert not set(ids) & {str(pk) for pk in other.wallet_transactions.values_list("pk", flat=True)}
    lines = csv_lines(auth_client.get(CSV_URL))
    assert [line[1] for line in lines[1:]] == [str(mine.pk)]


def _walk(client, url):
    """Follow the Older links from `url`; returns the ids of each page and the last page's body."""
    pages = []
    while url:
        body = client.get(url).content.decode()
        pages.append(re.findall(r'data-tx-id="([0-9a-f-]+)"', body))
        match = re.search(r'href="([^"]+)" rel="next"', body)
        url = URL + match.group(1).replace("&amp;", "&") if match else None
    return pages, body


def test_keyset_pages_of_50_cover_everything_once_newest_first(auth_client, user):
    for i in range(120):
        credit(user, "0.01", f"row {i}")
    expected = [str(pk) for pk in WalletTransaction.objects.filter(user=user).order_by("-created_at", "-id").values_list("pk", flat=True)]
    pages, _ = _walk(auth_client, URL)
    assert [len(p) for p in pages] == [50, 50, 20]
    assert sum(pages, []) == expected
    first = auth_client.get(URL).content.decode()
    assert 'rel="prev"' not in first and "Newest" not in first


def test_newer_link_goes_back_to_the_same_rows(auth_client, user):
    for _ in range(120):
        credit(user, "0.01")
    page1 = auth_client.get(URL).content.decode()
    older = re.search(r'href="\?before=([^"]+)" rel="next"', page1).group(1)
    page2 = auth_client.get(URL, {"before": older}).content.decode()
    older2 = re.search(r'href="\?before=([^"]+)" rel="next"', page2).group(1)
    page3 = auth_client.get(URL, {"before": older2})
    newer = re.search(r'href="\?after=([^"]+)" rel="prev"', page3.content.decode()).group(1)
    back = auth_client.get(URL, {"after": newer})
    assert rows_in(back) == re.findall(r'data-tx-id="([0-9a-f-]+)"', page2)
    body = back.content.decode()
    assert "Newest" in body and 'rel="next"' in body and 'rel="prev"' in body
    newest = re.search(r'href="\?after=([^"]+)" rel="prev"', body).group(1)
    assert rows_in(auth_client.get(URL, {"after": newest})) == re.findall(r'data-tx-id="([0-9a-f-]+)"', page1)


def test_rows_written_in_the_same_instant_are_paged_without_loss(auth_client, user):
    with at(timezone.now() - dt.timedelta(hours=1)):
        for _ in range(75):
            credit(user, "0.01")
    pages, _ = _walk(auth_client, URL)
    assert [len(p) for p in pages] == [50, 25]
    assert len(set(sum(pages, []))) == 75


def test_garbage_cursor_shows_the_first_page(auth_client, user):
    row = credit(user, "1.00")
    for bad in ["nonsense", "1_zz", "9" * 30 + "_" + "0" * 32, "x" * 500]:
        response = auth_client.get(URL, {"before": bad})
        assert response.status_code == 200
        assert rows_in(response) == [str(row.pk)]


def test_cursor_round_trip_keeps_microseconds():
    when = dt.datetime(2026, 3, 1, 12, 30, 5, 999999, tzinfo=dt.UTC)
    import uuid

    pk = uuid.uuid4()
    assert history.decode_cursor(history.encode_cursor(when, pk)) == (when, pk)


# --- Filters -------------------------------------------------------------------------------------


def test_filter_by_type_and_kept_in_pager_links(auth_client, user):
    for _ in range(55):
        credit(user, "1.00", "adj")
    debit(user, "0.50", "scan")
    response = auth_client.get(URL, {"type": TxType.ADJUSTMENT})
    body = response.content.decode()
    assert len(rows_in(response)) == 50
    assert "scan" not in body
    older = re.search(r'href="([^"]+)" rel="next"', body).group(1).replace("&amp;", "&")
    assert "type=adjustment" in older
    rest = auth_client.get(URL + older)
    assert len(rows_in(rest)) == 5
    # The CSV link carries the filter too (and no cursor).
    assert re.search(r'href="/wallet/history/export\.csv\?type=adjustment"', body)
    assert '<option value="adjustment" selected>' in body


def test_filter_by_date_range_inclusive_in_local_time(auth_client, user):
    tz = timezone.get_current_timezone()
    days = {}
    for day in (1, 2, 3, 4):
        # 23:30 local time: the UTC date differs, the local day must decide.
        when = dt.datetime(2026, 3, day, 23, 30, tzinfo=tz)
        with at(when):
            days[day] = credit(user, "1.00", f"day {day}")
    response = auth_client.get(URL, {"from": "2026-03-02", "to": "2026-03-03"})
    assert rows_in(response) == [str(days[3].pk), str(days[2].pk)]
    body = response.content.decode()
    assert 'name="from" value="2026-03-02"' in body and 'name="to" value="2026-03-03"' in body
    only_from = auth_client.get(URL, {"from": "2026-03-04"})
    assert rows_in(only_from) == [str(days[4].pk)]
    lines = csv_lines(auth_client.get(CSV_URL, {"from": "2026-03-02", "to": "2026-03-03"}))
    assert [line[3] for line in lines[1:]] == ["day 3", "day 2"]


def test_bad_filters_are_reported_not_crashing(auth_client, user):
    row = credit(user, "1.00")
    response = auth_client.get(URL, {"from": "2026-13-45", "type": "bogus"})
    assert response.status_code == 200
    # Filters that cannot be applied list nothing (not everything), with the errors inline.
    assert rows_in(response) == []
    assert "Enter a valid date." in response.content.decode()
    assert "Correct the filters above" in response.content.decode()
    swapped = auth_client.get(URL, {"from": "2026-03-05", "to": "2026-03-01"})
    assert "The end date must be on or after the start date." in swapped.content.decode()
    assert rows_in(swapped) == []
    assert rows_in(auth_client.get(URL)) == [str(row.pk)]


def test_filtered_empty_state(auth_client, user):
    credit(user, "1.00")
    body = auth_client.get(URL, {"type": TxType.CARD_REFUND}).content.decode()
    assert "No transactions match these filters." in body
    assert "No transactions yet." not in body


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_header_content_quoting_and_plain_decimal_amounts(auth_client, user):
    top = credit(user, "100.00", 'Card, "Visa"\nending 4242', type=TxType.TOP_UP, stripe_payment_intent_id="pi_1")
    use = debit(user, "5.00", "scan")
    response = auth_client.get(CSV_URL)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().strftime("%Y%m%d")
    assert response["Content-Disposition"] == f'attachment; filename="netcop-wallet-history-{today}.csv"'
    raw = b"".join(response.streaming_content).decode()
    # Embedded quotes are doubled and the cell with a comma/newline is quoted.
    assert '"Card, ""Visa""\nending 4242"' in raw
    lines = list(csv.reader(io.StringIO(raw)))
    assert lines[0] == ["Date", "Transaction ID", "Type", "Description", "Amount", "Currency", "Balance after", "Stripe PaymentIntent", "API key", "Promotional part"]
    assert lines[1][1:] == [str(use.pk), "Agent usage", "scan", "-5.00", "AED", "95.00", "", "", "0.00"]
    assert lines[2][1:] == [str(top.pk), "Top-up", 'Card, "Visa"\nending 4242', "100.00", "AED", "100.00", "pi_1", "", "0.00"]
    # ISO 8601 with the UTC offset, so the moment is unambiguous wherever the file is opened.
    local = timezone.localtime(use.created_at)
    assert lines[1][0] == local.isoformat(timespec="seconds")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", lines[1][0])
    assert len(lines) == 3


@pytest.mark.parametrize(
    "description, expected",
    [
        ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("safe = text", "safe = text"),
    ],
)
def test_csv_escapes_formula_injection_in_text_but_not_numbers(auth_client, user, description, expected):
    credit(user, "3.00", "funds")
    debit(user, "1.50", description)
    lines = csv_lines(auth_client.get(CSV_URL))
    assert lines[1][3] == expected
    assert lines[1][4] == "-1.50"  # a number, written as a number, never quoted away


def test_csv_safe_unit():
    assert history.csv_safe("=1") == "'=1"
    assert history.csv_safe("") == ""
    assert history.csv_safe(None) == ""
    assert history.csv_safe("a=1") == "a=1"


def test_csv_is_streamed_and_reads_the_ledger_lazily_in_chunks(auth_client, user, monkeypatch):
    for _ in range(7):
        credit(user, "1.00")
    monkeypatch.setattr(history, "CSV_CHUNK_SIZE", 3)
    with CaptureQueriesContext(connection) as before_iteration:
        response = auth_client.get(CSV_URL)
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    assert not response.has_header("Content-Length")
    ledger_table = WalletTransaction._meta.db_table
    assert not [q for q in before_iteration if ledger_table in q["sql"]], "no rows read before streaming"
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().startswith("Date,Transaction ID")
    rest = list(chunks)
    # One chunk per CSV_CHUNK_SIZE rows (3 + 3 + 1): never the whole file in one string.
    assert [chunk.decode().count("\n") for chunk in rest] == [3, 3, 1]


def test_csv_with_no_rows_is_just_the_header(auth_client):
    assert csv_lines(auth_client.get(CSV_URL)) == [history.CSV_HEADER]


# --- Chart -----------------------------------------------------------------------------------------


def test_balance_series_opening_balance_and_last_row_per_day(user):
    tz = timezone.get_current_timezone()
    today = dt.date(2026, 3, 31)
    with at(dt.datetime(2026, 2, 1, 12, tzinfo=tz)):
        credit(user, "40.00")  # before the 30-day range: the opening balance
    with at(dt.datetime(2026, 3, 10, 9, tzinfo=tz)):
        credit(user, "10.00")
    with at(dt.datetime(2026, 3, 10, 23, 59, tzinfo=tz)):
        debit(user, "20.00")  # the last row of 10 March decides its end-of-day balance
    with at(dt.datetime(2026, 3, 20, 0, 1, tzinfo=tz)):
        credit(user, "100.00")
    series = history.balance_series(user, 30, today=today)
    assert series.has_history
    points = dict(series.points)
    assert len(series.points) == 30 and series.points[0][0] == dt.date(2026, 3, 2)
    assert series.points[-1][0] == today
    assert points[dt.date(2026, 3, 9)] == Decimal("40.00")
    assert points[dt.date(2026, 3, 10)] == Decimal("30.00")
    assert points[dt.date(2026, 3, 19)] == Decimal("30.00")
    assert points[dt.date(2026, 3, 20)] == Decimal("130.00")
    assert points[today] == Decimal("130.00")


def test_balance_series_costs_one_query_and_no_history_for_new_user(user, django_assert_num_queries):
    with django_assert_num_queries(1):
        series = history.balance_series(user, 90)
    assert not series.has_history
    assert [v for _, v in series.points] == [Decimal("0.00")] * 90


def test_chart_rendered_with_title_desc_axes_and_labels(auth_client, user):
    with at(timezone.now() - dt.timedelta(days=45)):
        credit(user, "250.00")
    debit(user, "50.00")
    body = auth_client.get(URL).content.decode()
    svg = re.search(r'<svg class="balance-chart".*?</svg>', body, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Wallet balance over the last 30 days</title>' in svg
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg).group(1)
    assert "200.00 AED" in desc and "Lowest 200.00 AED, highest 250.00 AED" in desc
    assert "chart-axis-x" in svg and "chart-axis-y" in svg
    # y labels up to a round maximum covering 250, and today's date as the last x label.
    assert ">0</text>" in svg and ">300</text>" in svg
    today = timezone.localdate()
    assert f">{today.day} {today:%b}</text>" in svg
    assert svg.count("<polyline") == 1
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', svg).group(1).split()
    assert len(points) == 30
    assert 'aria-current="true" class="is-active">30 days' in body
    assert "Show the balance changes as a table" in body


def test_chart_toggle_90_days_and_invalid_value(auth_client, user):
    with at(timezone.now() - dt.timedelta(days=120)):
        credit(user, "10.00")
    body = auth_client.get(URL, {"days": "90", "type": "adjustment"}).content.decode()
    assert "over the last 90 days" in body
    assert 'aria-current="true" class="is-active">90 days' in body
    # The toggle keeps the filters, and the filter form keeps the period.
    assert 'href="?days=30&amp;type=adjustment"' in body
    assert '<input type="hidden" name="days" value="90">' in body
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', body).group(1).split()
    assert len(points) == 90
    assert "over the last 30 days" in auth_client.get(URL, {"days": "7"}).content.decode()
    assert "over the last 30 days" in auth_client.get(URL, {"days": "x"}).content.decode()


def test_chart_geometry_unit():
    points = [(dt.date(2026, 3, 1) + dt.timedelta(days=i), Decimal(v)) for i, v in enumerate(["0", "5", "12.5"])]
    chart = balance_chart(points, days=3, currency="AED")
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20"]
    ys = [float(p.split(",")[1]) for p in chart.line.split()]
    assert ys[0] == chart.bottom and ys[0] > ys[1] > ys[2] > chart.top
    assert [d for d, _ in chart.changes] == [p[0] for p in points]
    flat = balance_chart([(dt.date(2026, 3, 1), Decimal("0.00"))], days=1, currency="AED")
    assert flat.line and flat.y_ticks[0].label == "0"
    small = balance_chart([(dt.date(2026, 3, 1), Decimal("0.40"))], days=1, currency="AED")
    assert small.y_ticks[-1].label == "0.40"


# --- Pending and failed top-ups ----------------------------------------------------------------


def test_pending_and_failed_topups_are_listed_without_adding_money(auth_client, user):
    credit(user, "10.00")
    pending = TopUp.objects.create(user=user, amount=Decimal("50.00"), currency="AED", idempotency_key="k1", stripe_payment_intent_id="pi_pending")
    failed = TopUp.objects.create(user=user, amount=Decimal("75.00"), currency="AED", idempotency_key="k2", status=TopUp.Status.FAILED)
    action = TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="k3", status=TopUp.Status.REQUIRES_ACTION)
    body = auth_client.get(URL).content.decode()
    section = re.search(r'<section class="card history-section history-topups".*?</section>', body, re.S).group(0)
    assert "Card payments in progress / failed" in section
    assert f'data-topup-id="{pending.pk}" data-topup-status="pending"' in section
    assert f'data-topup-id="{failed.pk}" data-topup-status="failed"' in section
    assert f'data-topup-id="{action.pk}" data-topup-status="requires_action"' in section
    assert "Nothing added" in section and "Not yet" in section
    assert 'data-copy="pi_pending"' in section
    assert "50.00 AED" in section and "75.00 AED" in section
    # Not in the ledger, not in the balance.
    assert len(rows_in(auth_client.get(URL))) == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("10.00")


def test_succeeded_topups_are_not_in_the_problem_list(auth_client, user):
    row = credit(user, "10.00", type=TxType.TOP_UP, stripe_payment_intent_id="pi_ok")
    TopUp.objects.create(user=user, amount=Decimal("10.00"), currency="AED", idempotency_key="ok", status=TopUp.Status.SUCCEEDED, stripe_payment_intent_id="pi_ok", credit_transaction=row)
    assert "Card payments in progress / failed" not in auth_client.get(URL).content.decode()


# --- Cost --------------------------------------------------------------------------------------------


def _count_queries(client, params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params)
    assert response.status_code == 200
    return len(ctx), response


def test_query_count_is_the_same_for_10_and_500_rows(client, make_user):
    few, many = make_user(), make_user()
    for u, n in ((few, 10), (many, 500)):
        for i in range(n):
            credit(u, "1.00", f"row {i}", type=TxType.TOP_UP, stripe_payment_intent_id=f"pi_{u.pk}_{i}")
        TopUp.objects.create(user=u, amount=Decimal("5.00"), currency="AED", idempotency_key="p", stripe_payment_intent_id=f"pi_p{u.pk}")
    counts = {}
    for u in (few, many):
        client.force_login(u)
        counts[u.pk], response = _count_queries(client, {})
        filtered, _ = _count_queries(client, {"type": "top_up", "from": "2020-01-01", "days": "90"})
        assert filtered == counts[u.pk]
    assert counts[few.pk] == counts[many.pk]
    # ...and a deep page of the big ledger costs no more than the first (it has no chart).
    older = re.search(r'href="\?before=([^"]+)" rel="next"', response.content.decode()).group(1)
    deep, _ = _count_queries(client, {"before": older})
    assert deep <= counts[many.pk]
