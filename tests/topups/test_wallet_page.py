"""The wallet page as a customer meets it (issue 12): rate limits that let an office pay, the way
back to an agent, and finishing or canceling an abandoned 3-D Secure top-up."""


import pytest
from django.test import Client
from django.urls import reverse

from netcop_hub.config import parse_rate
from tests.helpers import post_json

pytestmark = pytest.mark.django_db

CREATE = "/wallet/create-payment-intent/"
OFFICE_IP = "203.0.113.7"


def pay(client, stripe_sandbox, *, amount="20.00", card="4242424242424242", key="k1", ip=OFFICE_IP):
    body = {"amount": amount, "payment_method_id": stripe_sandbox.card(card), "idempotency_key": key}
    return post_json(client, CREATE, body, REMOTE_ADDR=ip)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


# --- 8. rate limits: per IP only failures and refusals count; per user every attempt ------------


def test_successful_top_ups_from_one_ip_never_block_a_newcomer(make_user, stripe_sandbox, settings):
    settings.TOPUP_RATE_LIMIT = parse_rate("2/10m")
    # Colleagues behind the office NAT each pay, more often than the per-IP budget.
    for n in range(4):
        resp = pay(client_for(make_user()), stripe_sandbox, key=f"colleague-{n}")
        assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    # A person who just signed up on the same network pays at once.
    newcomer = pay(client_for(make_user()), stripe_sandbox, key="first")
    assert newcomer.status_code == 200 and newcomer.json()["status"] == "succeeded"


def test_failed_and_refused_attempts_count_per_ip(make_user, stripe_sandbox, settings):
    settings.TOPUP_RATE_LIMIT = parse_rate("2/10m")
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
    settings.TOPUP_RATE_LIMIT = parse_rate("2/10m")
    client = client_for(user)
    codes = [pay(client, stripe_sandbox, key=f"k{n}", ip=f"198.51.100.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_429_carries_retry_after_in_the_body_and_the_header(user, settings):
    settings.TOPUP_RATE_LIMIT = parse_rate("1/10m")
    client = client_for(user)
    post_json(client, CREATE, {"amount": "abc"})
    resp = post_json(client, CREATE, {"amount": "abc"})
    assert resp.status_code == 429
    body = resp.json()
    assert isinstance(body["retry_after"], int) and 0 < body["retry_after"] <= 600
    assert resp["Retry-After"] == str(body["retry_after"])
    assert body["error"].startswith("Too many attempts. Try again in ")


def test_successful_log_ins_from_one_ip_do_not_use_up_its_budget(client, make_user, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("2/10m")
    url = reverse("authentication:login")
    for _ in range(3):
        person = make_user()
        ok = Client().post(url, {"username": person.email, "password": "Sup3r-secret-pass"})
        assert ok.status_code == 302
    # Failed log-ins still count: two wrong passwords, then the address waits.
    for n in range(2):
        assert client.post(url, {"username": f"guess{n}@example.com", "password": "x"}).status_code == 200
    assert client.post(url, {"username": "guess9@example.com", "password": "x"}).status_code == 429


# --- 12. a top-up left at 3-D Secure: Finish authentication and Cancel -----------------------------


def abandoned_3ds(client, stripe_sandbox, amount="25.00", key="3ds"):
    """A top-up Stripe holds at 3-D Secure, the page closed before the cardholder answered."""
    body = {"amount": amount, "payment_method_id": stripe_sandbox.card("4000002500003155"), "idempotency_key": key}
    resp = post_json(client, CREATE, body)
    assert resp.status_code == 200 and resp.json()["status"] == "requires_action", resp.content
    from wallet.models import TopUp

    return TopUp.objects.get(pk=resp.json()["topup_id"])


def resume_url(topup):
    return reverse("wallet:resume_topup", args=[topup.id])


def cancel_url(topup):
    return reverse("wallet:cancel_topup", args=[topup.id])


def test_the_page_offers_finish_and_cancel_for_a_top_up_left_at_3ds(user, stripe_sandbox):
    client = client_for(user)
    topup = abandoned_3ds(client, stripe_sandbox)
    html = client.get(reverse("wallet:topup")).content.decode()
    assert f'data-url="{resume_url(topup)}"' in html and f'data-url="{cancel_url(topup)}"' in html
    assert ">Awaiting authentication<" in html


def test_finish_hands_the_owner_the_client_secret_to_authenticate(user, stripe_sandbox):
    client = client_for(user)
    topup = abandoned_3ds(client, stripe_sandbox)
    resp = client.post(resume_url(topup))
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "requires_action" and body["topup_id"] == str(topup.id)
    assert body["client_secret"].startswith(topup.stripe_payment_intent_id)
    # The page then runs Stripe.js's next action and confirm-payment settles it.
    stripe_sandbox.authenticate(topup.stripe_payment_intent_id, body["client_secret"])
    done = post_json(client, "/wallet/confirm-payment/", {"payment_intent_id": topup.stripe_payment_intent_id})
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    user.refresh_from_db()
    assert str(user.wallet_balance) == "25.00"


def test_finish_after_authenticating_elsewhere_credits_without_a_second_3ds(user, stripe_sandbox):
    client = client_for(user)
    topup = abandoned_3ds(client, stripe_sandbox)
    secret = client.post(resume_url(topup)).json()["client_secret"]
    stripe_sandbox.authenticate(topup.stripe_payment_intent_id, secret)  # e.g. in another tab
    resp = client.post(resume_url(topup))
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    assert "client_secret" not in resp.json()
    user.refresh_from_db()
    assert str(user.wallet_balance) == "25.00"


def test_cancel_cancels_the_intent_and_marks_the_top_up(user, stripe_sandbox):
    client = client_for(user)
    topup = abandoned_3ds(client, stripe_sandbox)
    resp = client.post(cancel_url(topup))
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "canceled", "topup_id": str(topup.id), "payment_intent_id": topup.stripe_payment_intent_id,
        "message": "Top-up canceled. Nothing was charged.",
    }
    topup.refresh_from_db()
    assert topup.status == "canceled"
    intent = stripe_sandbox.request("GET", f"/v1/payment_intents/{topup.stripe_payment_intent_id}")
    assert intent["status"] == "canceled"
    # A second click answers the same; Finish on it reports it canceled, never a secret.
    assert client.post(cancel_url(topup)).json()["status"] == "canceled"
    again = client.post(resume_url(topup))
    assert again.json()["status"] == "canceled" and "client_secret" not in again.json()


def test_cancel_after_the_payment_went_through_credits_instead(user, stripe_sandbox):
    client = client_for(user)
    topup = abandoned_3ds(client, stripe_sandbox)
    secret = client.post(resume_url(topup)).json()["client_secret"]
    stripe_sandbox.authenticate(topup.stripe_payment_intent_id, secret)
    resp = client.post(cancel_url(topup))
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    topup.refresh_from_db()
    assert topup.status == "succeeded"
    user.refresh_from_db()
    assert str(user.wallet_balance) == "25.00"


def test_a_settled_top_up_cannot_be_canceled(user, stripe_sandbox):
    client = client_for(user)
    pay(client, stripe_sandbox, key="paid")
    from wallet.models import TopUp

    topup = TopUp.objects.get(user=user)
    resp = client.post(cancel_url(topup))
    assert resp.status_code == 409 and resp.json()["status"] == "succeeded"
    topup.refresh_from_db()
    assert topup.status == "succeeded"


def test_finish_and_cancel_check_the_owner(make_user, user, stripe_sandbox, monkeypatch):
    topup = abandoned_3ds(client_for(user), stripe_sandbox)
    from wallet import payments

    for name in ("retrieve_intent", "cancel_intent"):
        monkeypatch.setattr(payments, name, lambda *a, **k: pytest.fail("Stripe asked for another's top-up"))
    stranger = client_for(make_user())
    for url in (resume_url(topup), cancel_url(topup)):
        resp = stranger.post(url)
        assert resp.status_code == 404 and resp.json() == {"error": "No such top-up.", "code": "topup_not_found"}
        assert Client().post(url).status_code == 401
    topup.refresh_from_db()
    assert topup.status == "requires_action"


def test_finish_and_cancel_need_the_csrf_token_and_a_post(user, stripe_sandbox):
    topup = abandoned_3ds(client_for(user), stripe_sandbox)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    for url in (resume_url(topup), cancel_url(topup)):
        assert strict.post(url).status_code == 403
        assert strict.get(url).status_code == 405
    page = strict.get(reverse("wallet:topup"))
    token = page.context["csrf_token"]
    assert strict.post(cancel_url(topup), HTTP_X_CSRFTOKEN=str(token)).status_code == 200
    topup.refresh_from_db()
    assert topup.status == "canceled"


def test_amount_errors_are_one_sentence_the_page_also_says(user, settings):
    client = client_for(user)
    body = {"payment_method_id": "pm_card_visa", "idempotency_key": "k"}
    script = (settings.BASE_DIR / "static" / "js" / "topup.js").read_text()
    for amount in ("1", "20000", "99999999999999"):
        resp = post_json(client, CREATE, {**body, "amount": amount})
        assert resp.json()["error"] == "Enter an amount between 2.00 AED and 10,000.00 AED."
    # The page says the server's own sentence, from its config: no copy in the script.
    assert "Enter an amount between" not in script
    page = client.get("/wallet/").content.decode()
    assert '"rangeMessage": "Enter an amount between 2.00 AED and 10,000.00 AED."' in page


# --- 5. from an agent to the wallet and back --------------------------------------------------------


@pytest.fixture
def agent(make_agent):
    return make_agent(
        name="Email header analyzer", slug="email-headers", description="d", price="3.00", runner="email_headers"
    )


def test_the_page_names_the_agent_and_the_amount_it_needs(make_user, agent):
    from decimal import Decimal

    client = client_for(make_user(balance=Decimal("1.00")))
    resp = client.get("/wallet/?amount=2.00&next=/agents/email-headers/")
    html = resp.content.decode()
    assert "Top up to run Email header analyzer" in html
    assert "you need <strong>2.00 AED</strong> more" in html
    assert html.count('href="/agents/email-headers/"') == 2  # in the context line, and after success
    assert 'id="topup-back"' in html and ">Back to Email header analyzer</a>" in html
    # A prefill below what a run needs is raised to it.
    assert resp.context["prefill"] == "2.00"
    low = client.get("/wallet/?amount=2.00&next=/agents/email-headers/")
    assert low.context["back"]["need"] == Decimal("2.00")


def test_prefill_is_at_least_what_a_run_needs(make_user, agent):
    client = client_for(make_user())
    resp = client.get("/wallet/?amount=2.00&next=/agents/email-headers/")
    assert resp.context["prefill"] == "3.00"
    assert client.get("/wallet/?next=/agents/email-headers/").context["prefill"] == "3.00"
    assert client.get("/wallet/?amount=50&next=/agents/email-headers/").context["prefill"] == "50.00"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/agents/email-headers/",
        "//evil.example/agents/email-headers/",
        "/\\evil.example/agents/email-headers/",
        "/agents/email-headers/?next=https://evil.example/",
        "/agents/email-headers/use/",
        "/agents/",
        "/agents/no-such-agent/",
        "/agents/retired/",
        "/wallet/history/",
        "/admin/",
        "javascript:alert(1)",
        "/agents/email-headers/" + "x" * 300,
        "",
    ],
)
def test_next_is_ignored_unless_it_is_an_active_agents_page(user, agent, next_url):
    from agents.models import Agent

    Agent.objects.create(name="Retired", slug="retired", description="d", price="1.00", runner="x", is_active=False)
    resp = client_for(user).get(reverse("wallet:topup"), {"next": next_url})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert resp.context["back"] is None
    assert "evil.example" not in html and "Top up to run" not in html and 'id="topup-back"' not in html
    assert "Add money by card" in html
