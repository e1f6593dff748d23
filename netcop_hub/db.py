"""Prepared statements for the few hottest statements (PostgreSQL), planned once per connection.

Django binds parameters on the client (psycopg's ClientCursor), so PostgreSQL parses and plans every
statement it receives. For most of the app that is right: an ORM query's text varies with its
filters, and planning is cheap next to running. The ledger's own statements are different: the same
text thousands of times a minute, some of it run while the wallet's row is locked (the balance
UPDATE, then the ledger row's INSERT with its credit lots: a statement PostgreSQL takes 0.2-0.3 ms
to plan and about as long to run). `prepared_cursor()` sends them server-side bound and prepared,
so each connection plans them once (psycopg keeps the prepared statements per connection and
re-prepares after a reconnect).

Only statements built once from model metadata and run many times belong here (a new text each
time would fill psycopg's cache of prepared statements and evict the useful ones). The cursor is
Django's own wrapper around a server-binding psycopg cursor, so query logging (the query budgets'
CaptureQueriesContext), execute wrappers and the mapping of database errors work as for any cursor.

DB_PREPARED_STATEMENTS=False turns it off (for a pooler that cannot keep prepared statements across
transactions: PgBouncer in transaction mode unless it is 1.22+ with max_prepared_statements > 0, the
default only from 1.24): the same statements are then sent through Django's ordinary cursor.

A migration that changes the type of a column these statements return makes a connection's prepared
statement fail ("cached plan must not change result type") until the connection is replaced: restart
the app after such a migration (a deploy does).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper

try:
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, CursorDebugWrapper, ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format
except ImportError:  # pragma: no cover - psycopg is a requirement; SQLite alone never reaches here
    ServerBindingCursor = None  # type: ignore[assignment,misc]


if ServerBindingCursor is not None:

    class _PreparingCursor(ServerBindingCursor):  # type: ignore[misc,valid-type]
        """psycopg's server-binding cursor that prepares every statement it executes."""

        def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[override]
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    class _LoggedPreparedCursor(CursorDebugWrapper):
        """Django's debug wrapper (DEBUG, CaptureQueriesContext), logging the statement with its values:
        a server-bound cursor keeps no client-side text for Django's last_executed_query to read."""

        def execute(self, sql, params=None):
            with self.debug_sql(_shown(sql, params)):
                return CursorWrapper.execute(self, sql, params)


def _shown(sql: str, params) -> str:
    if not params:
        return sql
    try:
        return connection.ops.compose_sql(sql, params)
    except Exception:  # noqa: BLE001 - only the log's copy of the text; the statement itself is sent as is
        return sql


def prepared_cursor() -> Any:
    """A cursor (use it as a context manager) whose statements are prepared on PostgreSQL; the
    ordinary cursor on any other database or with DB_PREPARED_STATEMENTS off."""
    wanted = connection.vendor == "postgresql" and settings.DB_PREPARED_STATEMENTS
    if not wanted or ServerBindingCursor is None:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    # As Django's create_cursor: read timestamps in the connection's zone when it differs.
    tzloader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != tzloader.timezone:
        register_tzloader(connection.timezone, raw)
    if connection.queries_logged:
        return _LoggedPreparedCursor(raw, connection)
    return connection.make_cursor(raw)
