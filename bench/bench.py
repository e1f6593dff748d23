"""
NetCop Wallet benchmarks: ratios measured in one run on one machine, plus absolute numbers.

Run with `make bench` (or `bash bench/run.sh`). Needs PostgreSQL; starts its own localstripe and
gunicorn (sync workers) on loopback, drives HTTP load with wrk from a separate process, and writes
bench/results/latest.json and a Markdown table on stdout. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import pathlib
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal

import api_bench
from bench_report import Report, loadavg
from wrk_load import wrk

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
BENCH_EMAIL = "bench@netcop.local"
BENCH_PASSWORD = "bench-Password-123"
START_BALANCE = Decimal("5000000.00")
# Top-ups go through settle_topup, which refuses to take a balance above WALLET_MAX_BALANCE
# (100,000 AED by default): they get their own user who starts at zero (100 x 100 AED fits).
TOPUP_EMAIL = "bench-topup@netcop.local"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


# --- environment ---------------------------------------------------------------------------------


def base_env(db_url: str, stripe_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "netcop_hub.settings",
            "DATABASE_URL": db_url,
            "DB_CONN_MAX_AGE": "600",
            "DEBUG": "False",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "False",
            "SESSION_COOKIE_SECURE": "False",
            "CSRF_COOKIE_SECURE": "False",
            "SECURE_HSTS_SECONDS": "0",
            "RATE_LIMITS_ENABLED": "False",
            "AXES_ENABLED": "False",
            "STRIPE_SANDBOX": "1",
            "LOCALSTRIPE_URL": stripe_url,
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "LOG_LEVEL": "WARNING",
            # The queued-agent bench calls a slow agent service on loopback (bench only).
            "AGENT_HTTP_ALLOW_PRIVATE": "True",
        }
    )
    return env


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def django_shell(env: dict, code: str) -> str:
    return manage(env, "shell", "-c", code)


def recreate_database(db_url: str) -> None:
    import psycopg

    parsed = urllib.parse.urlparse(db_url)
    name = parsed.path.lstrip("/")
    admin_url = db_url.replace(parsed.path, "/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- HTTP session ----------------------------------------------------------------------------------


class Session:
    """A logged-in browser-like session (cookies + CSRF token) for the bench user."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def login(self, email: str, password: str) -> None:
        self.opener.open(self.base + "/accounts/login/").read()
        data = urllib.parse.urlencode(
            {"username": email, "password": password, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        ).encode()
        resp = self.opener.open(self.base + "/accounts/login/", data=data)
        resp.read()
        if "sessionid" not in {c.name for c in self.jar}:
            raise RuntimeError("bench login failed")

    def headers(self) -> dict:
        return {
            "Cookie": f"sessionid={self.cookie('sessionid')}; csrftoken={self.cookie('csrftoken')}",
            "X-CSRFToken": self.cookie("csrftoken"),
        }

    def post_json(self, path: str, payload: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(payload).encode(),
            headers={**self.headers(), "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


# --- the benchmarks --------------------------------------------------------------------------------


def bench_agent_vs_noop(base: str, session: Session, env: dict, seconds: int) -> dict:
    slug, price = json.loads(
        django_shell(
            env,
            "import json; from agents.models import Agent; "
            "a = Agent.objects.filter(is_active=True, runner='phishing_url').first() or "
            "Agent.objects.filter(is_active=True).exclude(runner='http').order_by('price').first(); "
            "print(json.dumps([a.slug, str(a.price)]))",
        ).strip().splitlines()[-1]
    )
    body = json.dumps({"input": "http://paypa1-secure-login.example.xyz/verify", "request_id": "REQUEST_ID"})
    headers = {**session.headers(), "Content-Type": "application/json"}
    before = balance_of(env)
    runs_before = succeeded_runs(env)
    out = {"agent": slug, "price": price}
    for c in (8, 32):
        noop = wrk(base + "/wallet/balance.json", session.headers(), c, seconds)
        use = wrk(base + f"/agents/{slug}/use/", headers, c, seconds, method="POST", body=body)
        out[f"c{c}"] = {"noop": noop, "agent_use": use, "ratio": use["ok_rps"] / noop["ok_rps"]}
        log(f"agent use c={c}: {use['ok_rps']:.0f} ok/s vs no-op {noop['ok_rps']:.0f}/s "
            f"ratio {out[f'c{c}']['ratio']:.2f}, p50 {use['p50_ms']:.1f} ms, p99 {use['p99_ms']:.1f} ms")
    runs = succeeded_runs(env) - runs_before
    after = balance_of(env)
    expected = before - Decimal(price) * runs
    ledger = manage(env, "check_ledger").strip().splitlines()[-1]
    out["integrity"] = {
        "successful_runs": runs,
        "balance_before": str(before),
        "balance_after": str(after),
        "expected_after": str(expected),
        "balance_ok": after == expected,
        "check_ledger": ledger,
    }
    log(f"integrity: {runs} runs, balance {after} == expected {expected}: {after == expected}; {ledger}")
    return out


class SlowServer:
    """A local HTTP agent backend that answers every POST after `delay` seconds (threaded)."""

    def __init__(self, delay: float):
        import http.server

        delay_s = delay

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay_s)
                body = json.dumps({"output": "slow agent done"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/agent"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _slow_runs_in_flight(session: Session, slug: str, stop: threading.Event, done: list, queued: bool) -> None:
    """One client: submit a slow run and wait for its result, again and again until `stop`."""
    while not stop.is_set():
        status, body = session.post_json(f"/agents/{slug}/use/", {"input": "slow", "request_id": str(uuid.uuid4())})
        if queued and status == 202:
            # Queued: the request answered at once; wait for the worker (poll its status URL).
            while not stop.is_set():
                time.sleep(0.25)
                with session.opener.open(session.base + body["status_url"], timeout=30) as resp:
                    body = json.loads(resp.read())
                if body.get("status") in ("succeeded", "failed"):
                    break
        done.append(body.get("status", status))


def bench_queued(base: str, session: Session, env: dict, seconds: int, workers: int, procs: list) -> dict:
    """Light-page req/s while 4 slow (2 s) http runs are in flight: queued (db_worker) vs inline.

    Inline execution is the same app with TASKS_BACKEND=immediate: the task runs inside the
    request (on commit), so each slow run holds a gunicorn worker for 2 s, as inline runs did.
    """
    slow = SlowServer(2.0)
    slug = "bench-slow-http"
    django_shell(
        env,
        "from agents.models import Agent; "
        f"Agent.objects.update_or_create(slug='{slug}', defaults=dict(name='Slow HTTP agent', "
        f"description='bench', price='1.00', runner='http', is_active=True, "
        f"config={{'url': '{slow.url}', 'timeout': 10}}))",
    )
    out: dict = {"slow_seconds": 2.0, "in_flight": 4}
    qenv = {**env, "AGENT_HTTP_ALLOW_PRIVATE": "True"}
    inline_port = free_port()
    mode_procs = {
        # Four db_worker processes, so four queued runs are in flight at once.
        "queued": [subprocess.Popen([PY, "manage.py", "db_worker", "--queue-name", "agents", "--no-startup-delay",
                                     "--no-reload"],
                                    cwd=ROOT, env=qenv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(4)],
    }
    procs.extend(mode_procs["queued"])
    inline = subprocess.Popen(
        [str(pathlib.Path(PY).with_name("gunicorn")), "netcop_hub.wsgi", "-b", f"127.0.0.1:{inline_port}",
         "-w", str(workers), "-k", "sync", "--log-level", "warning", "--timeout", "60"],
        cwd=ROOT, env={**qenv, "TASKS_BACKEND": "immediate"},
    )
    procs.append(inline)
    wait_port(inline_port)
    try:
        for mode, url in (("queued", base), ("inline", f"http://127.0.0.1:{inline_port}")):
            s = Session(url)
            s.login(BENCH_EMAIL, BENCH_PASSWORD)
            idle = wrk(url + "/wallet/balance.json", s.headers(), 8, seconds)
            stop, done = threading.Event(), []
            clients = [threading.Thread(target=_slow_runs_in_flight, args=(s, slug, stop, done, mode == "queued"))
                       for _ in range(4)]
            for t in clients:
                t.start()
            time.sleep(0.5)  # let the four slow runs start
            busy = wrk(url + "/wallet/balance.json", s.headers(), 8, seconds)
            stop.set()
            for t in clients:
                t.join(timeout=30)
            out[mode] = {"idle": idle, "with_4_slow_runs": busy, "slow_runs_finished": len(done),
                         "slow_run_results": sorted(set(map(str, done))),
                         "ratio_to_idle": busy["ok_rps"] / idle["ok_rps"]}
            log(f"light page with 4 slow runs in flight ({mode}): {busy['ok_rps']:.0f} ok/s "
                f"(idle {idle['ok_rps']:.0f}/s), p99 {busy['p99_ms']:.0f} ms, errors {busy['errors']}; "
                f"{len(done)} slow runs done {sorted(set(map(str, done)))}")
        out["queued_vs_inline"] = out["queued"]["with_4_slow_runs"]["ok_rps"] / max(
            out["inline"]["with_4_slow_runs"]["ok_rps"], 0.001)
        log(f"queued vs inline while 4 slow runs are in flight: {out['queued_vs_inline']:.1f}x")
    finally:
        slow.close()
    return out


def balance_of(env: dict) -> Decimal:
    return Decimal(
        django_shell(
            env,
            "from authentication.models import User; "
            f"print(User.objects.get(email='{BENCH_EMAIL}').wallet_balance)",
        ).strip().splitlines()[-1]
    )


def succeeded_runs(env: dict) -> int:
    return int(
        django_shell(
            env,
            "from agents.models import AgentRun; "
            f"print(AgentRun.objects.filter(user__email='{BENCH_EMAIL}', status='succeeded').count())",
        ).strip().splitlines()[-1]
    )


def run_script(env: dict, *args: str) -> dict:
    """Run a bench/ script in its own process; its last stdout line is JSON."""
    out = subprocess.run([PY, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_ledger(env: dict) -> dict:
    data = run_script(env, str(ROOT / "bench" / "ledger_bench.py"))
    log(f"ledger debit: {data['service_ops']:.0f} ops/s vs raw SQL {data['raw_ops']:.0f} ops/s, ratio {data['ratio']:.2f}; "
        f"vs the same four writes in raw SQL {data['same_writes_ops']:.0f} ops/s, ratio {data['ratio_same_writes']:.2f}")
    return data


def bench_history(base: str, env: dict, seconds: int) -> dict:
    data = run_script(env, str(ROOT / "bench" / "history_bench.py"), "--seed", "100000")
    session = Session(base)
    session.login(data["email"], BENCH_PASSWORD)
    page = wrk(base + "/wallet/history/", session.headers(), 1, seconds)
    deep = wrk(base + "/wallet/history/?type=agent_usage", session.headers(), 1, seconds)
    # The same user's no-op JSON in the same minute: what the machine's load alone costs a request.
    noop = wrk(base + "/wallet/balance.json", session.headers(), 1, seconds)
    data["first_page"] = page
    data["filtered_page"] = deep
    data["noop_page"] = noop
    log(f"history (100k rows): p50 {page['p50_ms']:.1f} ms, p99 {page['p99_ms']:.1f} ms; "
        f"filtered p50 {deep['p50_ms']:.1f} ms; queries/page {data['queries']}; no-op JSON p50 {noop['p50_ms']:.1f} ms")
    return data


def bench_csv(env: dict) -> dict:
    data = run_script(env, str(ROOT / "bench" / "history_bench.py"), "--csv")
    log(f"CSV export {data['rows']} rows: {data['seconds']:.2f} s, peak RSS growth {data['rss_growth_mb']:.1f} MB")
    return data


def bench_topup(base: str, session: Session, stripe_url: str, n: int) -> dict:
    """Our create+confirm endpoint vs the bare stripe-python calls, interleaved in blocks."""
    import stripe

    client = stripe.StripeClient(
        "sk_test_bench", base_addresses={"api": stripe_url}, max_network_retries=0,
        http_client=stripe.new_default_http_client(timeout=30),
    )

    def wipe():
        req = urllib.request.Request(stripe_url + "/_config/data", method="DELETE")
        urllib.request.urlopen(req, timeout=10).read()

    def bare():
        t = time.perf_counter()
        client.v1.payment_intents.create(
            params={"amount": 10000, "currency": "aed", "payment_method": "pm_card_visa", "confirm": True,
                    "payment_method_types": ["card"], "metadata": {"topup_id": str(uuid.uuid4())}},
            options={"idempotency_key": str(uuid.uuid4())},
        )
        return time.perf_counter() - t

    def ours():
        t = time.perf_counter()
        status, body = session.post_json(
            "/wallet/create-payment-intent/",
            {"amount": "100.00", "payment_method_id": "pm_card_visa", "idempotency_key": str(uuid.uuid4())},
        )
        elapsed = time.perf_counter() - t
        if status != 200 or body.get("status") != "succeeded":
            raise RuntimeError(f"top-up failed: {status} {body}")
        return elapsed

    ours_t, bare_t = [], []
    for _ in range(5):  # localstripe slows as its store grows: interleave, wipe between blocks
        wipe()
        for _ in range(n // 10):
            bare_t.append(bare())
            ours_t.append(ours())
    data = {
        "n": len(ours_t),
        "ours_p50_ms": statistics.median(ours_t) * 1000,
        "bare_p50_ms": statistics.median(bare_t) * 1000,
        "ours_mean_ms": statistics.fmean(ours_t) * 1000,
        "bare_mean_ms": statistics.fmean(bare_t) * 1000,
    }
    data["overhead_ratio"] = data["ours_mean_ms"] / data["bare_mean_ms"]
    log(f"top-up: ours {data['ours_mean_ms']:.1f} ms vs bare stripe {data['bare_mean_ms']:.1f} ms, "
        f"ratio {data['overhead_ratio']:.2f}")
    return data


# --- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per HTTP measurement")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--topups", type=int, default=100)
    parser.add_argument("--only", default="agent,queued,ledger,history,csv,topup,api")
    args = parser.parse_args()
    only = set(args.only.split(","))
    report = Report(sys.argv[1:])
    log(f"{report.started:%Y-%m-%d %H:%M} UTC, commit {report.commit}, `{report.command}`, load {loadavg():.2f}")
    if not shutil.which("wrk"):
        log("wrk not found: apt-get install -y wrk")
        return 2

    db_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/netcop_bench")
    stripe_port, app_port = free_port(), free_port()
    stripe_url = f"http://127.0.0.1:{stripe_port}"
    base = f"http://127.0.0.1:{app_port}"
    env = base_env(db_url, stripe_url)
    procs: list[subprocess.Popen] = []
    failed: list[str] = []
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"),
        },
        "config": {"gunicorn_workers": args.workers, "wrk_seconds": args.seconds, "database": "PostgreSQL"},
    }
    try:
        log("recreating the bench database")
        recreate_database(db_url)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        manage(env, "seed_demo")
        django_shell(
            env,
            "from authentication.models import User; from wallet import services; "
            f"u = User.objects.create_user(email='{BENCH_EMAIL}', password='{BENCH_PASSWORD}', username='bench'); "
            f"services.credit(user=u, amount='{START_BALANCE}', type=services.TxType.ADJUSTMENT, description='bench funds'); "
            # Confirmed and a week old (issue 20): the top-up bench measures payments, not the
            # first-day cap or the email check.
            "from datetime import timedelta; from django.utils import timezone; "
            f"User.objects.create_user(email='{TOPUP_EMAIL}', password='{BENCH_PASSWORD}', username='bench-topup', "
            "email_verified_at=timezone.now(), date_joined=timezone.now() - timedelta(days=7))",
        )
        procs.append(subprocess.Popen(
            [str(pathlib.Path(PY).with_name("localstripe")), "--port", str(stripe_port), "--from-scratch"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        procs.append(subprocess.Popen(
            [str(pathlib.Path(PY).with_name("gunicorn")), "netcop_hub.wsgi", "-b", f"127.0.0.1:{app_port}",
             "-w", str(args.workers), "-k", "sync", "--log-level", "warning"],
            cwd=ROOT, env=env,
        ))
        wait_port(stripe_port)
        wait_port(app_port)
        session = Session(base)
        session.login(BENCH_EMAIL, BENCH_PASSWORD)

        topup_session = Session(base)
        topup_session.login(TOPUP_EMAIL, BENCH_PASSWORD)
        measurements = {
            "agent": ("agent_use_vs_noop", lambda: bench_agent_vs_noop(base, session, env, args.seconds)),
            "queued": ("queued_agent_responsiveness",
                       lambda: bench_queued(base, session, env, args.seconds, args.workers, procs)),
            "ledger": ("ledger_debit_vs_raw_sql", lambda: bench_ledger(env)),
            "history": ("history_100k", lambda: bench_history(base, env, args.seconds)),
            "csv": ("csv_100k", lambda: bench_csv(env)),
            "topup": ("topup_overhead", lambda: bench_topup(base, topup_session, stripe_url, args.topups)),
            # issue 21
            "api": ("api_agent_vs_noop", lambda: api_bench.bench_api_agent_vs_noop(
                base, env, args.seconds, django_shell=django_shell, manage=manage, balance_of=balance_of,
                succeeded_runs=succeeded_runs, email=BENCH_EMAIL)),
        }
        for name, (key, measure) in measurements.items():
            if name in only:
                try:
                    with report.sampling_load():
                        results[key] = measure()
                except Exception as exc:  # noqa: BLE001 - one crashed row must not hide the others
                    failed.append(name)
                    results[key] = {"error": repr(exc)}
                    report.row("?", f"`{name}` crashed", "runs", repr(exc)[:300], False)
                    continue
                report.add_rows(name, results[key])
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    results["report"] = report.as_dict()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    print("\n[bench] rows for bench/README.md:\n")
    print(report.markdown())
    if failed:
        log(f"crashed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
