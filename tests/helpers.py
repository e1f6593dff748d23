"""Plain helpers shared by test modules (fixtures live in tests/conftest.py).

Test modules import from here, never from each other.
"""

import contextlib
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from decimal import Decimal
from html.parser import HTMLParser

import pytest

CREATE_URL = "/wallet/create-payment-intent/"
CONFIRM_URL = "/wallet/confirm-payment/"
WEBHOOK_URL = "/wallet/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_netcop_tests"
THREE_DS_CARD = "4000002500003155"  # localstripe: a card that asks for 3-D Secure
PASSWORD = "Sup3r-secret-pass"  # make_user's default password

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str):
    """Skip locally; under CI=true a missing dependency is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: refusing to skip)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now (for a helper server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- JSON endpoints -------------------------------------------------------------------------------


def post_json(client, url, data, **extra):
    """POST `data` as JSON (a str or bytes body is sent as is, to test malformed input)."""
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


def create_topup(client, amount="100.00", pm="pm_card_visa", key="key-1"):
    """POST the top-up form's JSON to create-payment-intent."""
    return post_json(client, CREATE_URL, {"amount": amount, "payment_method_id": pm, "idempotency_key": key})


def use_agent(client, slug, text, request_id=None, **extra):
    """POST one paid agent run (a fresh request id unless given)."""
    body = {"input": text, "request_id": str(request_id or uuid.uuid4())}
    return post_json(client, f"/agents/{slug}/use/", body, **extra)


def balance_of(user) -> Decimal:
    """The user's balance as stored now (not the possibly stale instance's)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=user.pk).wallet_balance


# --- Stripe webhooks ------------------------------------------------------------------------------


def sign_webhook(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed as Stripe does: HMAC-SHA256 of "<t>.<raw body>"."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def make_event(event_type: str, obj: dict, event_id: str | None = None) -> dict:
    """A Stripe event envelope around `obj`."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def intent_event(intent_id: str, event_type: str = "payment_intent.succeeded", **fields) -> dict:
    """A payment_intent.* event naming `intent_id` (Stripe's handler re-fetches the intent)."""
    return make_event(event_type, {"id": intent_id, "object": "payment_intent", **fields})


def post_event(client, event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """Deliver `event` to the webhook endpoint, signed with `secret`."""
    body = json.dumps(event).encode()
    return client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_webhook(body, secret, timestamp),
    )


# --- localstripe scenarios ------------------------------------------------------------------------


def authenticated_but_unconfirmed(user, sandbox, amount="25.00", key=None):
    """A 3-D Secure top-up the cardholder completed at Stripe; the browser never told us."""
    from wallet import payments, services
    from wallet.models import TopUp

    result = services.start_topup(
        user=user, amount=amount, payment_method_id=sandbox.card(THREE_DS_CARD),
        idempotency_key=key or uuid.uuid4().hex,
    )
    assert result.status == TopUp.Status.REQUIRES_ACTION
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    sandbox.authenticate(intent.id, intent.client_secret, success=True)
    return result.topup


# --- Query budgets --------------------------------------------------------------------------------


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@contextlib.contextmanager
def assert_max_queries(budget: int, what: str = "this path", using: str = "default", *,
                       transaction_control: bool = True):
    """Fail when the block runs more than `budget` SQL statements, listing every one of them.

    A guard, not a timing: a change that adds a query to a hot path fails here with the SQL that
    ran, whatever the machine's speed. Yields a list that holds the captured queries (dicts with
    "sql" and "time") once the block is over: a snapshot, since Django empties its query log at
    the start of every request, so a CaptureQueriesContext read after the next request is wrong.
    With transaction_control=False, BEGIN/COMMIT/SAVEPOINT/RELEASE are neither counted nor listed
    (they differ between the databases and the test's own transaction).
    """
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    captured: list[dict] = []
    with CaptureQueriesContext(connections[using]) as ctx:
        yield captured
    captured.extend(
        q for q in ctx.captured_queries if transaction_control or not q["sql"].startswith(TRANSACTION_CONTROL)
    )
    if len(captured) > budget:
        statements = "\n".join(f"{i}. {q['sql']}" for i, q in enumerate(captured, 1))
        pytest.fail(f"{what}: {len(captured)} queries, budget {budget}:\n{statements}", pytrace=False)


# --- page markup ----------------------------------------------------------------------------------


class _Tree(HTMLParser):
    """Each element's tag, attributes and its parent's tag and attributes."""

    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "path", "area", "col", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, dict]] = [("#root", {})]
        self.elements: list[tuple[str, dict, str, dict]] = []

    def handle_starttag(self, tag, attrs):
        parent_tag, parent_attrs = self.stack[-1]
        self.elements.append((tag, dict(attrs), parent_tag, parent_attrs))
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def elements(html: str):
    tree = _Tree()
    tree.feed(html)
    return tree.elements


def only_chores(settings, **schedules):
    """Turn every scheduled chore off (each SCHEDULE_* setting), then on again as given, e.g.
    only_chores(settings, SCHEDULE_RECONCILE_TOPUPS=timedelta(minutes=5)): a test about some chores
    stays right when another feature registers a chore of its own."""
    from django.conf import settings as live

    for name in dir(live):
        if name.startswith("SCHEDULE_"):
            setattr(settings, name, None)
    for name, value in schedules.items():
        setattr(settings, name, value)
