"""History with 100k ledger rows for one user: seed, queries per page, and the streamed CSV export."""

import argparse
import json
import os
import pathlib
import random
import resource
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import django

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcop_hub.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from wallet.models import CreditLot, LotKind, LotSource  # noqa: E402

EMAIL = "history@bench.local"
SMALL_EMAIL = "history-small@bench.local"
PASSWORD = "bench-Password-123"


def seed(email: str, rows: int):
    """A consistent synthetic ledger (balance_after chain, final balance) written in bulk for speed.

    Bench-only shortcut: the product writes ledger rows through wallet.services one at a time.
    """
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=PASSWORD, username=email.split("@")[0])
        _seed_rows(user, rows)
    if connection.vendor == "postgresql":
        # A live table has planner statistics and a visibility map (autovacuum); a bulk load measured
        # at once would have neither, and autovacuum would kick in during the measurement.
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    return user


def _seed_rows(user, rows: int) -> None:
    User = get_user_model()
    rng = random.Random(42)
    start = timezone.now() - timedelta(days=120)
    step = timedelta(days=120) / max(rows, 1)
    balance = Decimal("0.00")
    batch = []
    table = "wallet_wallettransaction"
    sql = (
        f"INSERT INTO {table} (id, user_id, amount, type, description, balance_after, stripe_payment_intent_id, "
        "created_by_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, %s)"
    )
    with connection.cursor() as cur:
        for i in range(rows):
            if balance < Decimal("50") or rng.random() < 0.1:
                amount, kind, desc, pi = Decimal(rng.choice([50, 100, 200])), "top_up", "Card top-up", f"pi_bench_{user.pk}_{i}"
            else:
                amount, kind, desc, pi = -Decimal(rng.randint(100, 900)) / 100, "agent_usage", "Agent run: phishing", ""
            balance += amount
            batch.append([uuid.uuid4(), user.pk, amount, kind, desc, balance, pi, start + step * i])
            if len(batch) == 5000:
                cur.executemany(sql, batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)
        cur.execute(
            f"UPDATE {connection.ops.quote_name(User._meta.db_table)} SET wallet_balance = %s WHERE id = %s",
            [balance, user.pk],
        )
        # The seed writes the ledger past the service, so it also writes what the ledger keeps beside
        # the balance (issue 23): one paid lot holding it, as the migration does for older balances.
        CreditLot.objects.create(
            user=user, kind=LotKind.PAID, source=LotSource.OPENING, amount=max(balance, Decimal("0.01")),
            remaining=balance, created_at=timezone.now(),
        )
        # Every card top-up in the ledger has its succeeded TopUp, and three old card payments
        # failed: the page's "did not add money" table must find those without reading the rest.
        cur.execute(
            "INSERT INTO wallet_topup (id, user_id, amount, currency, idempotency_key, stripe_payment_intent_id, "
            "status, failure_reason, credit_transaction_id, is_automatic, card_label, created_at, updated_at) "
            "SELECT id, user_id, amount, 'AED', 'bench-' || id, stripe_payment_intent_id, 'succeeded', '', id, "
            "false, '', created_at, created_at FROM wallet_wallettransaction WHERE user_id = %s AND type = 'top_up'",
            [user.pk],
        )
        for n in range(3):
            cur.execute(
                "INSERT INTO wallet_topup (id, user_id, amount, currency, idempotency_key, stripe_payment_intent_id, "
                "status, failure_reason, credit_transaction_id, is_automatic, card_label, created_at, updated_at) "
                "VALUES (%s, %s, 100, 'AED', %s, NULL, 'failed', 'card_declined', NULL, false, '', %s, %s)",
                [uuid.uuid4(), user.pk, f"bench-failed-{n}", start + timedelta(days=n), start + timedelta(days=n)],
            )


def page_queries(user) -> int:
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    client.get("/wallet/history/")  # warm caches
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get("/wallet/history/")
    assert resp.status_code == 200, resp.status_code
    return len(ctx.captured_queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", action="store_true")
    args = parser.parse_args()
    User = get_user_model()
    if args.seed:
        big = seed(EMAIL, args.seed)
        small = seed(SMALL_EMAIL, 10)
        print(json.dumps({"email": EMAIL, "rows": args.seed, "queries": page_queries(big),
                          "queries_10_rows": page_queries(small)}))
        return
    if args.csv:
        user = User.objects.get(email=EMAIL)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        resp = client.get("/wallet/history/export.csv")
        assert resp.streaming, "CSV export must stream"
        size = lines = 0
        for chunk in resp.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"rows": lines - 1, "bytes": size, "seconds": seconds,
                          "rss_growth_mb": (after - before) / 1024}))


if __name__ == "__main__":
    main()
