"""Profile an agent run (the bench's `POST /agents/<slug>/use/` JSON call) against the no-op in-process.

Runs on the bench database after `bench/run.sh` set it up (the bench user with funds, the demo agents).
Requests go through Django's WSGI handler with the bench's settings (DEBUG=False, a real session
cookie and CSRF token), as gunicorn would send them. Prints the SQL of one run and of one no-op, the
Python function calls per request (cProfile), the CPU time per request (best of N, interleaved) and
their ratio, then a pyinstrument profile of the runs. Not part of the test suite.

    DATABASE_URL=postgres://.../netcop_bench_speed DEBUG=False RATE_LIMITS_ENABLED=False AXES_ENABLED=False \
        .venv/bin/python bench/profile_agent.py [--runs 300] [--rounds 7] [--no-pyinstrument]
"""

import argparse
import cProfile
import io
import json
import os
import pathlib
import pstats
import sys
import time
import uuid

import django

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netcop_hub.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from agents.models import Agent  # noqa: E402

EMAIL = "bench@netcop.local"
PASSWORD = "bench-Password-123"
INPUT = "http://paypa1-secure-login.example.xyz/verify"


def cookies() -> tuple[str, str]:
    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    client.get("/accounts/login/")
    assert client.login(email=EMAIL, password=PASSWORD) or client.force_login(
        get_user_model().objects.get(email=EMAIL)
    ) is None
    client.get("/wallet/")
    session, csrf = client.cookies["sessionid"].value, client.cookies["csrftoken"].value
    return session, csrf


def environ(method: str, path: str, session: str, csrf: str, body: bytes = b"") -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json" if body else "",
        "HTTP_ACCEPT": "application/json",
        "HTTP_COOKIE": f"sessionid={session}; csrftoken={csrf}",
        "HTTP_X_CSRFTOKEN": csrf,
        "REMOTE_ADDR": "127.0.0.1",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-pyinstrument", action="store_true")
    parser.add_argument("--calls", action="store_true", help="print the cProfile listing too")
    args = parser.parse_args()
    agent = Agent.objects.filter(is_active=True, runner="phishing_url").first()
    assert agent is not None
    session, csrf = cookies()
    app = WSGIHandler()
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def run() -> bytes:
        body = json.dumps({"input": INPUT, "request_id": str(uuid.uuid4())}).encode()
        resp = app(environ("POST", f"/agents/{agent.slug}/use/", session, csrf, body), start_response)
        out = b"".join(resp)
        resp.close()
        assert statuses[-1].startswith("201") or statuses[-1].startswith("200"), (statuses[-1], out[:300])
        return out

    def noop() -> bytes:
        resp = app(environ("GET", "/wallet/balance.json", session, csrf), start_response)
        out = b"".join(resp)
        resp.close()
        assert statuses[-1].startswith("200"), statuses[-1]
        return out

    for _ in range(20):
        run()
        noop()
    for name, fn in (("agent run", run), ("no-op", noop)):
        with CaptureQueriesContext(connection) as ctx:
            fn()
        print(f"\n=== {name}: {len(ctx.captured_queries)} statements ===")
        for q in ctx.captured_queries:
            print(f"  {q['sql'][:160]}")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(50):
            fn()
        prof.disable()
        stats = pstats.Stats(prof)
        print(f"  Python function calls per request: {stats.total_calls / 50:,.0f}")
        if args.calls:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(45)
            print(s.getvalue())

    # CPU time per request, best of N rounds, the two interleaved so load swings hit both.
    best = {"run": float("inf"), "noop": float("inf")}
    n = args.runs // args.rounds or 1
    for _ in range(args.rounds):
        for key, fn in (("run", run), ("noop", noop)):
            t0 = time.process_time()
            for _ in range(n):
                fn()
            best[key] = min(best[key], (time.process_time() - t0) / n)
    print(
        f"\nCPU per request (best of {args.rounds} rounds of {n}): agent run {best['run'] * 1000:.2f} ms, "
        f"no-op {best['noop'] * 1000:.2f} ms, ratio {best['noop'] / best['run']:.2f}"
    )
    if not args.no_pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        t0 = time.perf_counter()
        with profiler:
            for _ in range(args.runs):
                run()
        print(f"\n{args.runs} runs in {time.perf_counter() - t0:.2f} s")
        print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
