"""The wallet page as a customer meets it (issue 12): rate limits that let an office pay, the way
back to an agent, and finishing or cancelling an abandoned 3-D Secure top-up."""

import json

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

CREATE = "/wallet/create-payment-intent/"
OFFICE_IP = "203.0.113.7"


def post_json(client, url, data, **extra):
    return client.post(url, json.dumps(data), content_type="application/json", **extra)


def pay(client, stripe_sandbox, *, amount="20.00", card="4242424242424242", key="k1", ip=OFFICE_IP):
    body = {"amount": amount, "payment_method_id": stripe_sandbox.card(card), "idempotency_key": key}
    return post_json(client, CREATE, body, REMOTE_ADDR=ip)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


# --- 8. rate limits: per IP only failures and refusals count; per user every attempt ------------


def test_successful_top_ups_from_one_ip_never_block_a_newcomer(make_user, stripe_sandbox, settings):
    settings.TOPUP_RATE_LIMIT = "2/10m"
    # Colleagues behind the office NAT each pay, more often than the per-IP budget.
    for n in range(4):
        resp = pay(client_for(make_user()), stripe_sandbox, key=f"colleague-{n}")
        assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    # A person who just signed up on the same network pays at once.
    newcomer = pay(client_for(make_user()), stripe_sandbox, key="first")
    assert newcomer.status_code == 200 and newcomer.json()["status"] == "succeeded"


def test_failed_and_refused_attempts_count_per_ip(make_user, stripe_sandbox, settings):
    settings.TOPUP_RATE_LIMIT = "2/10m"
    declined = pay(client_for(make_user()), stripe_sandbox, card="4000000000000341", key="d1")
    assert declined.status_code == 402
    bad = post_json(client_for(make_user()), CREATE, {"amount": "abc"}, REMOTE_ADDR=OFFICE_IP)
    assert bad.status_code == 400
    # Two failures from this address: the next person there is refused before any work...
    refused = pay(client_for(make_user()), stripe_sandbox, key="r1")
    assert refused.status_code == 429
    # ...while another address is untouched.
    elsewhere = pay(client_for(make_user()), stripe_sandbox, key="e1", ip="198.51.100.9")
    assert elsewhere.status_code == 200


def test_the_per_user_limit_counts_every_attempt(user, stripe_sandbox, settings):
    settings.TOPUP_RATE_LIMIT = "2/10m"
    client = client_for(user)
    codes = [pay(client, stripe_sandbox, key=f"k{n}", ip=f"198.51.100.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_429_carries_retry_after_in_the_body_and_the_header(user, settings):
    settings.TOPUP_RATE_LIMIT = "1/10m"
    client = client_for(user)
    post_json(client, CREATE, {"amount": "abc"})
    resp = post_json(client, CREATE, {"amount": "abc"})
    assert resp.status_code == 429
    body = resp.json()
    assert isinstance(body["retry_after"], int) and 0 < body["retry_after"] <= 600
    assert resp["Retry-After"] == str(body["retry_after"])
    assert body["error"].startswith("Too many attempts. Try again in ")


def test_successful_log_ins_from_one_ip_do_not_use_up_its_budget(client, make_user, settings):
    settings.LOGIN_RATE_LIMIT = "2/10m"
    url = reverse("authentication:login")
    for _ in range(3):
        person = make_user()
        ok = Client().post(url, {"username": person.email, "password": "Sup3r-secret-pass"})
        assert ok.status_code == 302
    # Failed log-ins still count: two wrong passwords, then the address waits.
    for n in range(2):
        assert client.post(url, {"username": f"guess{n}@example.com", "password": "x"}).status_code == 200
    assert client.post(url, {"username": "guess9@example.com", "password": "x"}).status_code == 429
