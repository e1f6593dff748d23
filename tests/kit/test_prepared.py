"""netcop_hub.db.prepared_cursor: the ledger's hottest statements are prepared on PostgreSQL.

Each test says what it proves on both databases: on PostgreSQL the statements land in the session's
pg_prepared_statements (a psycopg threshold of None silently prepares nothing: this caught it); on
SQLite the same calls are ordinary statements.
"""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from netcop_hub.db import prepared_cursor
from wallet import services
from wallet.models import TxType

pytestmark = pytest.mark.django_db

PG = connection.vendor == "postgresql"


def prepared_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_debit_and_a_credit_are_sent_prepared(make_user):
    user = make_user(balance=Decimal("10.00"))
    services.debit(user=user, amount="1.00", type=TxType.AGENT_USAGE, description="t")
    services.credit(user=user, amount="2.00", type=TxType.ADJUSTMENT, description="t")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("11.00")
    if PG:
        texts = prepared_texts()
        assert any(t.startswith("UPDATE") and "wallet_balance" in t for t in texts), texts
        assert any("wallet_wallettransaction" in t and "wallet_lotallocation" in t for t in texts), texts
        # Django's own statements are not prepared (only what goes through prepared_cursor).
        assert not any("django_session" in t for t in texts)


def prepared_runs() -> int:
    """How many times this session has run any prepared statement."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(generic_plans + custom_plans), 0) FROM pg_prepared_statements")
        return int(cursor.fetchone()[0])


def test_off_sends_the_same_statements_unprepared(make_user, settings):
    user = make_user(balance=Decimal("10.00"))
    if PG:
        before = prepared_runs()
        services.debit(user=user, amount="1.00", type=TxType.AGENT_USAGE, description="t")
        assert prepared_runs() >= before + 2  # on: the UPDATE and the INSERT ran prepared
    settings.DB_PREPARED_STATEMENTS = False
    before = prepared_runs() if PG else 0
    services.debit(user=user, amount="1.00", type=TxType.AGENT_USAGE, description="t")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("8.00" if PG else "9.00")
    if PG:
        assert prepared_runs() == before


def test_query_logging_shows_the_statement_with_its_values():
    with CaptureQueriesContext(connection) as ctx, prepared_cursor() as cursor:
        cursor.execute("SELECT %s, %s", [41, "marker-text"])
        assert tuple(cursor.fetchone()) == (41, "marker-text")
    assert len(ctx.captured_queries) == 1
    assert "41" in ctx.captured_queries[0]["sql"] and "marker-text" in ctx.captured_queries[0]["sql"]


def test_a_broken_constraint_is_djangos_integrity_error(make_user):
    user = make_user(balance=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(
            "UPDATE authentication_user SET wallet_balance = %s WHERE id = %s", [Decimal("-1.00"), user.pk]
        )
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("1.00")
