"""Query budgets for the history page, the CSV export and the balance JSON: guards, not timings.

Each path costs a fixed number of SQL statements whatever the size of the ledger; a change that
adds one fails here with the list of statements (tests/helpers.py: assert_max_queries). The
timings live in bench/ (bench/README.md), never in tests.
"""

import re
from decimal import Decimal

import pytest

from tests.helpers import assert_max_queries
from wallet import history, services
from wallet.models import TopUp, TxType

pytestmark = pytest.mark.django_db

HISTORY = "/wallet/history/"
CSV_URL = "/wallet/history/export.csv"
BALANCE = "/wallet/balance.json"

# session, user, the page's rows, the capped count, the chart's one query, the problem payments,
# the nav's auto-recharge flag
HISTORY_FIRST_PAGE = 7
# session, user, rows, two capped counts (total and newer rows), the nav's flag: no chart, no payments
HISTORY_LATER_PAGE = 6
# session, user, the promotional parts (one read for the whole export, issue 23), the ledger read once
# (in chunks from one cursor)
CSV_EXPORT = 4
BALANCE_JSON = 2  # session, user (the balance is a column of the user row)


def _ledger(make_user, rows: int):
    """A user with `rows` ledger rows and one card payment that added nothing."""
    user = make_user()
    for i in range(rows):
        services.credit(user=user, amount=Decimal("1.00"), type=TxType.ADJUSTMENT, description=f"row {i}")
    TopUp.objects.create(user=user, amount=Decimal("5.00"), currency="AED", idempotency_key="failed",
                         status=TopUp.Status.FAILED)
    return user


def _later_page_url(client) -> str:
    """A page after the first: ?before= the fifth row shown on the first page."""
    body = client.get(HISTORY).content.decode()
    ids = re.findall(r'data-tx-id="([0-9a-f-]+)"', body)
    row = history.WalletTransaction.objects.get(pk=ids[4])
    return f"{HISTORY}?before={history.encode_cursor(row.created_at, row.pk)}"


@pytest.mark.parametrize("rows", [10, 300])
def test_history_pages_cost_the_same_for_10_and_300_rows(client, make_user, rows):
    user = _ledger(make_user, rows)
    client.force_login(user)
    client.get(HISTORY)  # the session's first use may write; measure steady state
    with assert_max_queries(HISTORY_FIRST_PAGE, f"history first page, {rows} rows") as first:
        response = client.get(HISTORY)
    assert response.status_code == 200 and "history-topups" in response.content.decode()
    later_url = _later_page_url(client)
    with assert_max_queries(HISTORY_LATER_PAGE, f"history later page, {rows} rows") as later:
        response = client.get(later_url)
    assert response.status_code == 200 and 'rel="prev"' in response.content.decode()
    # Exactly the budget: a path that quietly lost a query (its count, its chart) shows up too.
    assert (len(first), len(later)) == (HISTORY_FIRST_PAGE, HISTORY_LATER_PAGE)


@pytest.mark.parametrize("rows", [10, 300])
def test_filtered_history_costs_the_same(client, make_user, rows):
    client.force_login(_ledger(make_user, rows))
    client.get(HISTORY)
    with assert_max_queries(HISTORY_FIRST_PAGE, f"filtered history, {rows} rows") as ctx:
        assert client.get(HISTORY, {"type": "adjustment", "from": "2020-01-01", "days": "90"}).status_code == 200
    assert len(ctx) == HISTORY_FIRST_PAGE


@pytest.mark.parametrize("rows", [10, 300])
def test_csv_export_reads_the_ledger_once_whatever_its_size(client, make_user, monkeypatch, rows):
    monkeypatch.setattr(history, "CSV_CHUNK_SIZE", 50)  # 300 rows: six chunks, still one query
    client.force_login(_ledger(make_user, rows))
    client.get(HISTORY)
    with assert_max_queries(CSV_EXPORT, f"CSV export, {rows} rows") as ctx:
        response = client.get(CSV_URL)
        body = b"".join(response.streaming_content)
    assert body.count(b"\n") == rows + 1
    assert len(ctx) == CSV_EXPORT


def test_balance_json_is_the_session_and_the_user(client, make_user):
    client.force_login(_ledger(make_user, 3))
    client.get(BALANCE)
    with assert_max_queries(BALANCE_JSON, "balance JSON") as ctx:
        response = client.get(BALANCE)
    assert response.json()["balance"] == "3.00"
    assert len(ctx) == BALANCE_JSON


def test_the_budget_helper_lists_the_statements_when_a_path_goes_over(make_user):
    user = make_user()
    with pytest.raises(pytest.fail.Exception) as failure:
        with assert_max_queries(1, "two reads"):
            list(TopUp.objects.filter(user=user))
            list(history.WalletTransaction.objects.filter(user=user))
    message = str(failure.value)
    assert "two reads: 2 queries, budget 1" in message
    assert "1. SELECT" in message and "wallet_topup" in message and "2. SELECT" in message
