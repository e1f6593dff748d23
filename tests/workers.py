"""Real task workers for tests: `manage.py db_worker` and RQ's `manage.py rqworker` as separate
processes on the test database (and Redis DB 15), plus a controllable local "http agent" server."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("TEST_TASKS_REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUES = ["default", "agents"]
BACKENDS = {
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": QUEUES},
    "rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": QUEUES},
}


def wait_for(predicate, timeout: float = 30, what: str = "condition", interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for a worker process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """One worker process (its own session, so a kill reaches RQ's work horse too)."""

    def __init__(self, kind: str, env: dict):
        self.kind = kind
        self.log = tempfile.NamedTemporaryFile(prefix=f"netcop-{kind}-worker-", suffix=".log", delete=False)
        if kind == "db":
            cmd = ["db_worker", "--queue-name", "*", "--interval", "0.1", "--no-startup-delay", "--no-reload"]
            ready = "Starting worker"
        elif kind == "scheduler":
            cmd = ["run_scheduler", "--tick", "0.5"]
            ready = "Scheduler started"
        else:
            cmd = ["rqworker", *QUEUES, "--with-scheduler", "--job-class", "django_tasks_rq.Job"]
            ready = "Listening on"
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", *cmd],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: ready in self.output() or self.proc.poll() is not None, 60, f"{kind} worker start")
        if self.proc.poll() is not None:
            pytest.fail(f"{kind} worker exited at start:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would: no cleanup runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        # Shown by pytest with a failing test's captured output.
        print(f"--- {self.kind} worker log ---\n{self.output()[-6000:]}")
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def redis_or_skip():
    import redis

    from tests.helpers import skip_or_fail

    try:
        client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError:
        skip_or_fail(f"Redis is not reachable at {TEST_REDIS_URL}")
    return client


@pytest.fixture
def task_workers(settings, transactional_db, monkeypatch):
    """start(kind) -> WorkerProcess for kind "db" or "rq"; this process then enqueues to that backend.

    The test must use transactional_db (the worker is another process: it sees committed rows only).
    """
    started: list[WorkerProcess] = []
    settings.AGENT_HTTP_ALLOW_PRIVATE = True

    def start(kind: str, *, configure_only: bool = False, env: dict | None = None,
              scheduler: bool = False) -> WorkerProcess | None:
        """A worker of `kind` (and, with scheduler=True, a `run_scheduler` process beside it)."""
        settings.TASKS = {"default": BACKENDS[kind]}
        if kind == "rq":
            redis_or_skip().flushdb()  # DB 15 belongs to the tests; nothing else is touched
            settings.RQ_QUEUES = {q: {"URL": TEST_REDIS_URL, "DEFAULT_TIMEOUT": 300} for q in QUEUES}
        if configure_only:
            return None
        base_env = {
            **os.environ,
            "DEBUG": "True",
            "DATABASE_URL": database_url(),
            "TASKS_BACKEND": kind,
            "TASKS_REDIS_URL": TEST_REDIS_URL,
            "AGENT_HTTP_ALLOW_PRIVATE": "True",
            # Typed settings (timedelta) back to the environment's words, in seconds.
            "AGENT_QUEUE_MAX_WAIT": f"{int(django_settings.AGENT_QUEUE_MAX_WAIT.total_seconds())}s",
            "AGENT_RUN_LOST_AFTER": f"{int(django_settings.AGENT_RUN_LOST_AFTER.total_seconds())}s",
            "EMAIL_BACKEND": django_settings.EMAIL_BACKEND,
            "EMAIL_HOST": str(django_settings.EMAIL_HOST),
            "EMAIL_PORT": str(django_settings.EMAIL_PORT),
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            base_env.pop(var, None)
        worker = WorkerProcess(kind, base_env)
        started.append(worker)
        if scheduler:
            started.append(WorkerProcess("scheduler", base_env))
        return worker

    yield start
    for worker in started:
        worker.stop()


class AgentServer:
    """A local "n8n workflow": /ok answers at once; /hold answers only once `release` is set."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.hits.append(self.path)
                if self.path == "/hold":
                    outer.entered.set()
                    outer.release.wait(60)
                data = json.dumps({"output": f"report for {body['input']}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def agent_http_server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = AgentServer()
    yield server
    server.close()
