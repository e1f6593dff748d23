"""Customer webhooks (issue 21): Standard Webhooks signatures, retries after a failing receiver,
the SSRF guard, rotation, disabling, the events, and the page. A real local HTTP receiver."""

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """A receiver's check, written from the spec (not from our code): any listed v1 signature."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(part == f"v1,{expected}" for part in headers["webhook-signature"].split(" "))


class Receiver:
    """Answers 500 to the first `failures` POSTs, then 200; records every request."""

    def __init__(self, failures=0):
        self.failures, self.requests = failures, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = 500 if len(outer.requests) <= outer.failures else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"boom" if code == 500 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the test setting that lets the guard reach 127.0.0.1
    made = []

    def make(failures=0):
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for r in made:
        r.close()


def make_due(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_signature_matches_the_standard_webhooks_test_vector():
    # From the Standard Webhooks specification's reference libraries.
    assert webhooks.sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330, body=b'{"test": 2432232314}',
    ) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_delivery_is_retried_after_a_failing_receiver_until_it_succeeds(make_user, receiver):
    r = receiver(failures=2)
    user = make_user()
    endpoint = webhooks.add_endpoint(user=user, url=r.url, events=["run.succeeded"])
    (delivery,) = webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={"id": "x"})
    delivery.refresh_from_db()  # the first attempt ran on commit (immediate task backend)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at > timezone.now()  # backed off
    assert webhooks.retry_webhooks.call() == 0  # not due yet: nothing sent
    make_due(delivery)
    webhooks.retry_webhooks.call()
    make_due(delivery)
    webhooks.retry_webhooks.call()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    assert len(r.requests) == 3
    assert len({h["webhook-id"] for h, _ in r.requests}) == 1  # the same id on every attempt
    for headers, body in r.requests:
        assert verify(endpoint.secret, headers, body)
        assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
        assert json.loads(body)["type"] == "run.succeeded"
    # Run twice: a delivered event is never sent again.
    assert webhooks.attempt(delivery.pk) == "skipped" and len(r.requests) == 3


def test_ssrf_guard_refuses_private_addresses_unless_the_test_setting_allows(make_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    user = make_user()
    for url in ("https://127.0.0.1/hook", "https://169.254.169.254/latest", "https://localhost/x", "http://example.com/"):
        with pytest.raises(webhooks.InvalidEndpoint):
            webhooks.add_endpoint(user=user, url=url, events=["run.succeeded"])
    # Past the form (e.g. DNS pointing at a private address): the guard refuses at connect time.
    listener = Receiver()
    try:
        endpoint = WebhookEndpoint.objects.create(
            user=user, url=listener.url, events=["run.succeeded"], secret=webhooks.new_secret()
        )
        (delivery,) = webhooks.emit(
            user_id=user.pk, event_type="run.succeeded", data={}, endpoint_ids=[endpoint.pk]
        )
        delivery.refresh_from_db()
        assert delivery.last_error == "Refused: the address is on a private network"
        assert delivery.status == "pending"
        assert listener.requests == []
    finally:
        listener.close()


def test_rotation_signs_with_both_secrets_for_a_while(make_user, receiver):
    r = receiver()
    user = make_user()
    endpoint = webhooks.add_endpoint(user=user, url=r.url, events=["run.succeeded"])
    old = endpoint.secret
    webhooks.rotate_secret(endpoint=endpoint)
    assert endpoint.secret != old
    webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={})
    headers, body = r.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(old, headers, body) and verify(endpoint.secret, headers, body)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={})
    headers, body = r.requests[-1]
    assert not verify(old, headers, body) and verify(endpoint.secret, headers, body)


def test_an_endpoint_failing_for_days_is_disabled_and_its_owner_emailed(make_user, receiver, mailoutbox):
    r = receiver(failures=100)
    user = make_user()
    endpoint = webhooks.add_endpoint(user=user, url=r.url, events=["run.succeeded"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
    webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={})
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "failed since" in endpoint.disabled_reason
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [user.email] and r.url in mailoutbox[0].body
    # Disabled: new events are not recorded for it.
    assert webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={}) == []


def test_api_run_sends_run_succeeded(client, make_user, make_key, make_agent, receiver):
    r = receiver()
    user = make_user(balance=Decimal("10.00"))
    agent = make_agent()
    webhooks.add_endpoint(user=user, url=r.url, events=["run.succeeded", "run.failed"])
    _, secret = make_key(user)
    answer = client.post(
        f"/api/v1/agents/{agent.slug}/runs", {"input": "http://paypa1.com/login"},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert answer.status_code == 200
    (headers, body), = r.requests
    event = json.loads(body)
    assert event["type"] == "run.succeeded" and event["data"]["id"] == answer.json()["id"]
    assert event["data"]["charged"] == "2.50"


def test_page_adds_an_endpoint_and_sends_a_test_event(client, make_user, receiver):
    r = receiver()
    user = make_user()
    client.force_login(user)
    answer = client.post("/accounts/webhooks/", {"url": r.url, "events": ["run.succeeded", "balance.low"]})
    assert answer.status_code == 302
    endpoint = WebhookEndpoint.objects.get(user=user)
    client.post(f"/accounts/webhooks/{endpoint.pk}/test/")
    assert json.loads(r.requests[-1][1])["type"] == "webhook.test"
    page = client.get("/accounts/webhooks/").content.decode()
    assert "webhook.test" in page and "Delivered" in page and r.url in page
    # Another account's endpoint is not reachable.
    other = make_user()
    client.force_login(other)
    assert client.post(f"/accounts/webhooks/{endpoint.pk}/remove/").status_code == 404


def test_canceled_queued_run_and_low_balance_events(client, make_user, make_key, make_agent,
                                                             receiver, settings):
    from wallet import services
    from wallet.models import BillingSettings

    r = receiver()
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend",
                                  "QUEUES": ["default", "agents"]}}
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    user = make_user(balance=Decimal("10.00"))
    endpoint = webhooks.add_endpoint(
        user=user, url=r.url, events=["run.canceled", "balance.low"]
    )
    remote = make_agent(slug="remote", runner="http", config={"url": "http://127.0.0.1:9/x"}, price=Decimal("7.00"))
    _, secret = make_key(user)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    BillingSettings.objects.create(user=user, low_balance_alert=Decimal("5.00"))
    run = client.post(f"/api/v1/agents/{remote.slug}/runs", {"input": "x"}, content_type="application/json", **auth)
    assert run.status_code == 202
    client.post(run.json()["cancel_url"], **auth)
    # The dummy task backend runs nothing: the chore sends what is due.
    webhooks.retry_webhooks.call()
    types = sorted(json.loads(body)["type"] for _, body in r.requests)
    assert types == ["balance.low", "run.canceled"], types
    assert all(verify(endpoint.secret, h, b) for h, b in r.requests)
    del services


def test_a_card_topup_sends_topup_succeeded(make_user, receiver, stripe_sandbox):
    from wallet import services

    r = receiver()
    user = make_user()
    endpoint = webhooks.add_endpoint(user=user, url=r.url, events=["topup.succeeded"])
    result = services.start_topup(user=user, amount="40.00", payment_method_id="pm_card_visa", idempotency_key="w-1")
    assert result.credited_now
    (headers, body), = r.requests
    event = json.loads(body)
    assert event["type"] == "topup.succeeded" and event["data"]["amount"] == "40.00"
    assert event["data"]["balance_after"] == "40.00" and verify(endpoint.secret, headers, body)


def test_a_failing_webhook_receiver_never_fails_the_run(client, make_user, make_key, make_agent, receiver,
                                                        monkeypatch):
    r = receiver()
    user = make_user(balance=Decimal("10.00"))
    agent = make_agent()
    webhooks.add_endpoint(user=user, url=r.url, events=["run.succeeded"])
    _, secret = make_key(user)

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(webhooks, "emit", broken)
    answer = client.post(
        f"/api/v1/agents/{agent.slug}/runs", {"input": "http://paypa1.com/login"},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"


def test_the_log_says_why_a_delivery_failed_in_words(client, make_user, settings):
    """The owner reads what went wrong, never an exception's class name (gaierror, URLError...)."""
    from api import webhooks
    from api.models import WebhookEndpoint

    user = make_user()
    endpoint = WebhookEndpoint.objects.create(
        user=user, url="https://no-such-host.invalid/hook", events=["run.succeeded"], secret=webhooks.new_secret()
    )
    (delivery,) = webhooks.emit(user_id=user.pk, event_type="run.succeeded", data={}, endpoint_ids=[endpoint.pk])
    delivery.refresh_from_db()
    assert delivery.last_error == "Host name not found (DNS)" and delivery.status == "pending"
    client.force_login(user)
    page = client.get("/accounts/webhooks/").content.decode()
    assert "Host name not found (DNS)" in page and "gaierror" not in page
