"""Profile the history page and the CSV export in-process on the bench's data (run after history_bench --seed).

Prints the SQL of one page view with EXPLAIN (ANALYZE, BUFFERS) for each statement, then a
pyinstrument profile of N page views and of one CSV export. Not part of the test suite.

    DATABASE_URL=postgres://... .venv/bin/python bench/profile_history.py [--pages 200] [--no-explain]
"""

import argparse
import os
import pathlib
import sys
import time

import django

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcop_hub.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

EMAIL = "history@bench.local"


def explain(url: str, client: Client) -> None:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    print(f"\n=== {url}: {len(ctx.captured_queries)} queries ===")
    for q in ctx.captured_queries:
        sql = q["sql"]
        print(f"\n-- {q['time']} s: {sql[:300]}{'...' if len(sql) > 300 else ''}")
        if connection.vendor == "postgresql" and sql.lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                for (line,) in cur.fetchall():
                    print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    settings.DEBUG = False
    user = get_user_model().objects.get(email=EMAIL)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    urls = ["/wallet/history/", "/wallet/history/?type=agent_usage"]
    client.get(urls[0])
    if not args.no_explain:
        for url in urls:
            explain(url, client)
    profiler = Profiler(interval=0.0005)
    start = time.perf_counter()
    with profiler:
        for _ in range(args.pages):
            client.get(urls[0])
    per_page = (time.perf_counter() - start) / args.pages * 1000
    print(f"\n=== history page x{args.pages}: {per_page:.1f} ms per page in-process ===")
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    profiler = Profiler(interval=0.001)
    start = time.perf_counter()
    with profiler:
        resp = client.get("/wallet/history/export.csv")
        size = sum(len(chunk) for chunk in resp.streaming_content)
    print(f"\n=== CSV export: {time.perf_counter() - start:.2f} s, {size} bytes ===")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
