"""Ledger alone: services.debit on one hot wallet from 8 threads vs the same UPDATE+INSERT in raw SQL."""

import json
import os
import pathlib
import sys
import threading
import time
import uuid
from decimal import Decimal

import django

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcop_hub.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from wallet import services  # noqa: E402
from wallet.models import CreditLot  # noqa: E402

THREADS = int(os.environ.get("LEDGER_THREADS", 8))
SECONDS = float(os.environ.get("LEDGER_SECONDS", 5))
AMOUNT = Decimal("0.01")


def run(worker) -> int:
    stop = time.monotonic() + SECONDS
    counts = [0] * THREADS
    barrier = threading.Barrier(THREADS)

    def loop(i):
        barrier.wait()
        try:
            while time.monotonic() < stop:
                worker()
                counts[i] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def main():
    User = get_user_model()
    hot = User.objects.create_user(email=f"hot-{uuid.uuid4().hex[:8]}@bench.local", password="x-bench-pass-1")
    services.credit(user=hot, amount="1000000.00", type=services.TxType.ADJUSTMENT, description="bench")

    def service_debit():
        services.debit(user=hot.pk, amount=AMOUNT, type=services.TxType.AGENT_USAGE, description="bench")

    user_table = connection.ops.quote_name(User._meta.db_table)

    def raw_debit():
        # The same work without the service layer: conditional UPDATE ... RETURNING, then INSERT.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f"UPDATE {user_table} SET wallet_balance = wallet_balance - %s, updated_at = %s "
                "WHERE id = %s AND wallet_balance >= %s RETURNING wallet_balance",
                [AMOUNT, timezone.now(), hot.pk, AMOUNT],
            )
            (after,) = cur.fetchone()
            cur.execute(
                "INSERT INTO wallet_wallettransaction (id, user_id, amount, type, description, balance_after, "
                "stripe_payment_intent_id, created_by_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, '', NULL, %s)",
                [uuid.uuid4(), hot.pk, -AMOUNT, "agent_usage", "bench", after, timezone.now()],
            )

    # Warm up both paths, then measure service, raw, service again (take the mean of the two).
    run_once = SECONDS
    service_a = run(service_debit)
    raw = run(raw_debit)
    service_b = run(service_debit)
    service = (service_a + service_b) / 2
    # The raw-SQL comparator debits the balance past the ledger service, so not the credit lots the
    # service keeps beside it (issue 23): give the hot wallet's one lot what the balance holds again,
    # or check_ledger (run after later rows) reports a mismatch the product never made.
    hot.refresh_from_db()
    CreditLot.objects.filter(user=hot).update(remaining=hot.wallet_balance)
    print(json.dumps({
        "threads": THREADS, "seconds_each": run_once, "service_ops": service, "service_runs": [service_a, service_b],
        "raw_ops": raw, "ratio": service / raw,
    }))


if __name__ == "__main__":
    main()
