"""stripe-mock (Stripe's own API mock, validating every request against Stripe's OpenAPI spec).

STRIPE_MOCK_URL (e.g. http://127.0.0.1:12111 from `docker run --rm -p 12111-12112:12111-12112
stripe/stripe-mock`) uses a running server; otherwise the binary named by STRIPE_MOCK_BIN, or
`stripe-mock` on PATH, is started once per session on free loopback ports. Missing both: skipped
locally, a failure under CI=true.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from tests.helpers import free_port, skip_or_fail

KEY = "sk_test_123NetCopContract"  # stripe-mock wants a valid-looking test key: no underscores after sk_test_


def _wait_for(port: int, proc: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def stripe_mock_url():
    """The base URL of a stripe-mock for the whole session."""
    url = os.environ.get("STRIPE_MOCK_URL", "").rstrip("/")
    if url:
        yield url
        return
    binary = os.environ.get("STRIPE_MOCK_BIN") or shutil.which("stripe-mock")
    if not binary or not pathlib.Path(binary).is_file():
        skip_or_fail(
            "stripe-mock not found: set STRIPE_MOCK_BIN to the binary (../shared/tools/stripe-mock/stripe-mock) "
            "or STRIPE_MOCK_URL to a running server"
        )
    http_port, https_port = free_port(), free_port()
    proc = subprocess.Popen(
        # -strict-version-check: a request in another API version than the spec's is a 400, so
        # the gateway's pinned STRIPE_API_VERSION is checked too.
        [binary, "-http-addr", f"127.0.0.1:{http_port}", "-https-addr", f"127.0.0.1:{https_port}",
         "-strict-version-check"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for(http_port, proc):
            pytest.fail(f"stripe-mock ({binary}) did not start")
        yield f"http://127.0.0.1:{http_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def stripe_mock(stripe_mock_url, settings):
    """Point the gateway at stripe-mock as if it were real Stripe (not the sandbox)."""
    from wallet import payments

    settings.PAYMENTS_BACKEND = "wallet.payments.stripe.StripeBackend"
    settings.STRIPE_API_BASE = stripe_mock_url
    settings.STRIPE_SECRET_KEY = KEY
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    payments.reset_client()
    yield stripe_mock_url
    payments.reset_client()
