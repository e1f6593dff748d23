"""Issue 18.14: `make run PORT=8123` sends email links to port 8123. scripts/run.sh sets SITE_URL from
HOST and PORT (for the server and the worker) unless SITE_URL is configured; this runs the real script."""

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_run_sh(tmp_path, port: int, **env):
    environment = {
        **os.environ,
        "PY": sys.executable,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "TASKS_BACKEND": "immediate",  # no worker or scheduler to stop
        "STRIPE_SANDBOX": "1",
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # not localstripe's port: the script starts none
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "SITE_URL": "",  # empty means "not set", whatever a developer's .env says
        "DEBUG": "True",
        **env,
    }
    # Its own session, so that the test can stop the script and its children like Ctrl-C does.
    return subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def request_reset(base: str, email: str) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{base}/accounts/password/reset/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "email": email}).encode()
    opener.open(urllib.request.Request(f"{base}/accounts/password/reset/", data=data,
                                       headers={"Referer": f"{base}/accounts/password/reset/"}), timeout=30)


@pytest.mark.parametrize("configured", ["", "https://wallet.example.com"])
def test_make_run_links_emails_to_its_own_port(tmp_path, configured):
    port = free_port()
    process = start_run_sh(tmp_path, port, SITE_URL=configured)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/accounts/login/", timeout=5)
                break
            except OSError:
                assert process.poll() is None, "".join(output)
                assert time.monotonic() < deadline, "".join(output)
                time.sleep(0.5)
        request_reset(base, "demo@netcop.local")
        expected = configured or base
        deadline = time.monotonic() + 30
        while f"{expected}/accounts/password/reset/" not in "".join(output):
            assert time.monotonic() < deadline, "".join(output)
            time.sleep(0.2)
        assert f"== email links go to {expected}" in "".join(output)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
