"""The wallet page and the two top-up endpoints, against a real localstripe."""

import json
import re
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from tests.helpers import CONFIRM_URL, CREATE_URL, create_topup, post_json
from wallet import payments, services
from wallet.models import TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

CREATE = CREATE_URL
CONFIRM = CONFIRM_URL


create = create_topup


@pytest.fixture
def no_stripe(monkeypatch):
    """Fail the test if any Stripe call is made."""

    def forbidden(*args, **kwargs):
        raise AssertionError("Stripe must not be called")

    for name in ("create_and_confirm_intent", "retrieve_intent", "cancel_intent", "list_recent_intents"):
        monkeypatch.setattr(payments, name, forbidden)


@pytest.fixture
def stripe_down(settings):
    """Point the app at a closed port: every Stripe call fails to connect."""
    settings.PAYMENTS_BACKEND = "wallet.payments.sandbox.SandboxBackend"
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    settings.STRIPE_SECRET_KEY = "sk_test_unreachable"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2
    payments.reset_client()
    yield
    payments.reset_client()


def three_ds_topup(client, stripe_sandbox, amount="25.00", key="3ds"):
    resp = create(client, amount=amount, pm=stripe_sandbox.card("4000002500003155"), key=key)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "requires_action"
    return body


# --- the page ------------------------------------------------------------------------------------


def test_page_requires_login(client):
    resp = client.get(reverse("wallet:topup"))
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_sandbox_page_loads_localstripe_js_shim_and_banner(auth_client, stripe_sandbox):
    html = auth_client.get(reverse("wallet:topup")).content.decode()
    assert f'<script src="{stripe_sandbox.url}/js.stripe.com/v3/"></script>' in html
    assert "js/stripe-sandbox.js" in html and "js/topup.js" in html
    assert "https://js.stripe.com" not in html
    assert "Sandbox mode" in html
    for card in ("4242 4242 4242 4242", "4000 0025 0000 3155", "4000 0000 0000 0341"):
        assert card in html
    # The shim must come after localstripe's script and before the page's own code.
    assert html.index("/js.stripe.com/v3/") < html.index("stripe-sandbox.js") < html.index("js/topup.js")
    config = json.loads(re.search(r'<script id="topup-config" type="application/json">(.*?)</script>', html).group(1))
    assert config == {
        "publishableKey": "pk_test_netcop_tests",
        "createUrl": CREATE,
        "confirmUrl": CONFIRM,
        "currency": "AED",
        "minAmount": "2.00",
        "maxAmount": "10000.00",
        "rangeMessage": "Enter an amount between 2.00 AED and 10,000.00 AED.",
    }
    for preset in ("50.00 AED", "100.00 AED", "200.00 AED"):
        assert preset in html
    assert "Add to wallet" in html


def test_page_has_no_inline_script(auth_client, stripe_sandbox):
    html = auth_client.get(reverse("wallet:topup")).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_page_with_real_keys_loads_only_official_stripe_js(auth_client, settings):
    settings.PAYMENTS_BACKEND = "wallet.payments.stripe.StripeBackend"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_real"
    html = auth_client.get(reverse("wallet:topup")).content.decode()
    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert "stripe-sandbox.js" not in html and "Sandbox mode" not in html and "4242" not in html
    assert "/js.stripe.com/v3/" not in html.replace("https://js.stripe.com/v3/", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100", "100.00"),
        ("12.341", ""),  # the amount rule: at most two places, so not pre-filled
        ("1", "2.00"),  # clamped to the minimum
        ("-5", ""),  # signs and exponents are refused by the form, so never pre-filled
        ("999999", "10000.00"),  # clamped to the maximum
        ("1e3", ""),
        ("٥٠", "50.00"),  # Arabic-Indic digits, as the form accepts them
        ("abc", ""),
        ("NaN", ""),
        ("Infinity", ""),
        ("", ""),
    ],
)
def test_amount_query_prefills_a_safe_value(auth_client, stripe_sandbox, raw, expected):
    html = auth_client.get(reverse("wallet:topup"), {"amount": raw}).content.decode()
    assert re.search(r'<input type="text" id="topup-amount"[^>]*value="([^"]*)"', html).group(1) == expected


def test_recent_topups_show_pending_and_failed_states(auth_client, user, stripe_sandbox):
    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="a")
    TopUp.objects.create(
        user=user, amount=Decimal("20"), currency="AED", idempotency_key="b", status=TopUp.Status.REQUIRES_ACTION
    )
    TopUp.objects.create(
        user=user,
        amount=Decimal("30"),
        currency="AED",
        idempotency_key="c",
        status=TopUp.Status.FAILED,
        failure_reason="Your card was declined.",
    )
    html = auth_client.get(reverse("wallet:topup")).content.decode()
    assert ">Pending<" in html
    assert ">Awaiting authentication<" in html
    # A short badge; the reason is secondary text under it, not a sentence inside the pill.
    # A reason stored before the "nothing was charged" wording says it too (issue 18).
    assert ">Failed<" in html
    assert '<p class="topup-reason">Your card was declined. Nothing was charged.</p>' in html
    assert "30.00 AED" in html


# --- create-payment-intent -----------------------------------------------------------------------


def test_successful_card_is_credited_at_once(auth_client, user, stripe_sandbox):
    resp = create(auth_client, amount="100.00")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    topup = TopUp.objects.get(user=user)
    assert body == {
        "status": "succeeded",
        "topup_id": str(topup.id),
        "payment_intent_id": topup.stripe_payment_intent_id,
        "balance": "100.00",
        "balance_display": "100.00 AED",
        "message": "100.00 AED was added to your wallet.",
    }
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("100.00")
    entry = WalletTransaction.objects.get(user=user)
    assert entry.type == TxType.TOP_UP and topup.credit_transaction_id == entry.id
    # What Stripe was asked for: fils, our currency, our ids in metadata.
    intent = stripe_sandbox.request("GET", f"/v1/payment_intents/{topup.stripe_payment_intent_id}")
    assert intent["amount"] == 10000 and intent["currency"] == "aed"
    assert intent["metadata"] == {"topup_id": str(topup.id), "user_id": str(user.id)}


def test_amount_may_be_a_json_number(auth_client, user, stripe_sandbox):
    resp = post_json(
        auth_client,
        CREATE,
        '{"amount": 50.5, "payment_method_id": "pm_card_visa", "idempotency_key": "num"}',
    )
    assert resp.status_code == 200 and resp.json()["balance"] == "50.50"
    assert TopUp.objects.get(user=user).amount == Decimal("50.50")


def test_replayed_idempotency_key_charges_once(auth_client, user, stripe_sandbox):
    first = create(auth_client, amount="60", key="double-click").json()
    second = create(auth_client, amount="60", key="double-click")
    assert second.status_code == 200
    assert second.json()["topup_id"] == first["topup_id"]
    assert second.json()["status"] == "succeeded" and second.json()["balance"] == "60.00"
    assert TopUp.objects.filter(user=user).count() == 1
    assert WalletTransaction.objects.filter(user=user).count() == 1
    assert len(stripe_sandbox.request("GET", "/v1/payment_intents?limit=100")["data"]) == 1


def test_same_key_from_another_user_is_a_separate_topup(auth_client, user, make_user, stripe_sandbox):
    create(auth_client, amount="10", key="shared")
    other = Client()
    other.force_login(make_user())
    resp = create(other, amount="10", key="shared")
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    assert TopUp.objects.count() == 2


def test_replayed_key_with_another_amount_is_refused(auth_client, user, stripe_sandbox):
    create(auth_client, amount="60", key="k")
    resp = create(auth_client, amount="70", key="k")
    assert resp.status_code == 400 and "different amount" in resp.json()["error"]
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("60.00")


def test_declined_card_is_402_with_the_customer_message(auth_client, user, stripe_sandbox):
    resp = create(auth_client, amount="10.00", pm=stripe_sandbox.card("4000000000000341"))
    assert resp.status_code == 402
    assert resp.json() == {"error": "Your card was declined. Nothing was charged.", "code": "card_declined"}
    topup = TopUp.objects.get(user=user)
    assert topup.status == TopUp.Status.FAILED
    assert not WalletTransaction.objects.exists()


def test_three_d_secure_answers_with_client_secret(auth_client, user, stripe_sandbox):
    body = three_ds_topup(auth_client, stripe_sandbox)
    topup = TopUp.objects.get(user=user)
    assert body["topup_id"] == str(topup.id) and body["payment_intent_id"] == topup.stripe_payment_intent_id
    assert body["client_secret"].startswith(topup.stripe_payment_intent_id + "_secret")
    assert topup.status == TopUp.Status.REQUIRES_ACTION
    user.refresh_from_db()
    assert user.wallet_balance == 0


INVALID_BODIES = [
    {"amount": 0},
    {"amount": "0"},
    {"amount": -5},
    {"amount": "-5"},
    {"amount": "abc"},
    {"amount": "1.234"},
    {"amount": Decimal("1.234")},
    {"amount": Decimal("1E+9")},
    {"amount": "1e9"},
    {"amount": "1.99"},
    {"amount": "10000.01"},
    {"amount": None},
    {},
    {"amount": ["100"]},
    {"amount": {"value": "100"}},
    {"amount": True},
    {"amount": "NaN"},
    {"amount": "Infinity"},
    {"amount": ""},
]


@pytest.mark.parametrize("fields", INVALID_BODIES, ids=[repr(b.get("amount", "missing")) for b in INVALID_BODIES])
def test_invalid_amounts_are_400_without_any_stripe_call(auth_client, no_stripe, fields):
    data = {"payment_method_id": "pm_card_visa", "idempotency_key": "bad", **fields}
    # Decimals are written out as JSON numbers, exactly as typed.
    body = json.dumps({k: (f"@{v}@" if isinstance(v, Decimal) else v) for k, v in data.items()})
    body = re.sub(r'"@(.*?)@"', r"\1", body)
    resp = post_json(auth_client, CREATE, body)
    assert resp.status_code == 400, resp.content
    error = resp.json()["error"]
    assert error and "float" not in error and "Traceback" not in error
    assert not TopUp.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"amount": NaN, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
        '{"amount": Infinity, "payment_method_id": "pm_card_visa", "idempotency_key": "k"}',
        '["100"]',
        '"100"',
        "not json",
        "",
        '{"amount": "10", "payment_method_id": "", "idempotency_key": "k"}',
        '{"amount": "10", "payment_method_id": 5, "idempotency_key": "k"}',
        '{"amount": "10", "payment_method_id": "pm_card_visa"}',
        '{"amount": "10", "payment_method_id": "pm_card_visa", "idempotency_key": ""}',
        '{"amount": "10", "payment_method_id": "pm_card_visa", "idempotency_key": "' + "k" * 65 + '"}',
    ],
)
def test_malformed_bodies_are_400_without_any_stripe_call(auth_client, no_stripe, raw):
    resp = post_json(auth_client, CREATE, raw)
    assert resp.status_code == 400 and resp.json()["error"]
    assert not TopUp.objects.exists()


def test_form_encoded_body_is_refused(auth_client, no_stripe):
    resp = auth_client.post(CREATE, {"amount": "10", "payment_method_id": "pm_card_visa", "idempotency_key": "k"})
    assert resp.status_code == 400 and resp.json() == {"error": "Send the request as JSON.", "code": "bad_request"}


def test_stripe_unreachable_is_503_and_nothing_is_credited(auth_client, user, stripe_down):
    resp = create(auth_client, amount="100.00")
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert "couldn't reach the payment service" in error
    assert "127.0.0.1" not in error and "Connection" not in error
    # Left pending: reconciliation decides later whether an intent exists.
    topup = TopUp.objects.get(user=user)
    assert topup.status == TopUp.Status.PENDING and topup.stripe_payment_intent_id is None
    user.refresh_from_db()
    assert user.wallet_balance == 0 and not WalletTransaction.objects.exists()


def test_endpoints_answer_401_json_when_logged_out(client, no_stripe):
    for url in (CREATE, CONFIRM):
        resp = post_json(client, url, {"payment_intent_id": "pi_x"})
        assert resp.status_code == 401 and resp.json()["error"]


def test_endpoints_refuse_get(auth_client):
    assert auth_client.get(CREATE).status_code == 405
    assert auth_client.get(CONFIRM).status_code == 405


def test_csrf_token_is_required(user, no_stripe):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(reverse("wallet:topup"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    data = {"amount": "0", "payment_method_id": "pm_card_visa", "idempotency_key": "k"}
    assert post_json(client, CREATE, data).status_code == 403
    assert post_json(client, CONFIRM, {"payment_intent_id": "pi_x"}).status_code == 403
    # With the page's token the same request gets through CSRF (and fails validation instead).
    assert post_json(client, CREATE, data, HTTP_X_CSRFTOKEN=token).status_code == 400
    assert post_json(client, CONFIRM, {"payment_intent_id": "pi_x"}, HTTP_X_CSRFTOKEN=token).status_code == 404


# --- confirm-payment -----------------------------------------------------------------------------


def test_three_d_secure_completed_then_confirmed_is_credited(auth_client, user, stripe_sandbox):
    body = three_ds_topup(auth_client, stripe_sandbox, amount="25.00")
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=True)
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 200, resp.content
    assert resp.json() == {
        "status": "succeeded",
        "topup_id": str(TopUp.objects.get(user=user).id),
        "payment_intent_id": body["payment_intent_id"],
        "balance": "25.00",
        "balance_display": "25.00 AED",
        "message": "25.00 AED was added to your wallet.",
    }
    # Confirming again (a retry, a second tab) credits nothing more.
    again = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert again.status_code == 200 and again.json()["balance"] == "25.00"
    assert WalletTransaction.objects.filter(user=user).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")


def test_three_d_secure_failed_is_402_and_nothing_credited(auth_client, user, stripe_sandbox):
    body = three_ds_topup(auth_client, stripe_sandbox)
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=False)
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    # A failed payment answers alike from both endpoints (create-payment-intent's decline is 402 too).
    assert resp.status_code == 402
    assert resp.json()["status"] == "failed"
    assert "authentication failed" in resp.json()["error"].lower()
    assert TopUp.objects.get(user=user).status == TopUp.Status.FAILED
    user.refresh_from_db()
    assert user.wallet_balance == 0 and not WalletTransaction.objects.exists()


def test_confirm_before_authentication_is_400_still_requires_action(auth_client, user, stripe_sandbox):
    body = three_ds_topup(auth_client, stripe_sandbox)
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 400 and resp.json()["status"] == "requires_action"
    assert not WalletTransaction.objects.exists()


def test_canceled_intent_is_400(auth_client, user, stripe_sandbox):
    body = three_ds_topup(auth_client, stripe_sandbox)
    payments.cancel_intent(body["payment_intent_id"])
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 400 and resp.json() == {
        "status": "canceled",
        "topup_id": str(TopUp.objects.get(user=user).id),
        "payment_intent_id": body["payment_intent_id"],
        "message": "The payment was canceled.",
        "error": "The payment was canceled.",
    }


def test_another_users_intent_is_404_before_asking_stripe(auth_client, make_user, stripe_sandbox, monkeypatch):
    owner = Client()
    owner.force_login(make_user())
    body = three_ds_topup(owner, stripe_sandbox)
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=True)

    def forbidden(*args, **kwargs):
        raise AssertionError("Stripe must not be asked about someone else's intent")

    monkeypatch.setattr(payments, "retrieve_intent", forbidden)
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 404 and resp.json() == {"error": "No such top-up.", "code": "topup_not_found"}
    assert not WalletTransaction.objects.exists()


def test_unknown_intent_is_404(auth_client, no_stripe):
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": "pi_does_not_exist"})
    assert resp.status_code == 404


@pytest.mark.parametrize("raw", ['{"payment_intent_id": 7}', '{"payment_intent_id": ""}', "{}", "[]", "nope"])
def test_confirm_with_a_bad_body_is_400(auth_client, no_stripe, raw):
    assert post_json(auth_client, CONFIRM, raw).status_code == 400


@pytest.mark.parametrize(
    ("field", "value"), [("amount", Decimal("250.00")), ("currency", "USD")], ids=["amount", "currency"]
)
def test_amount_or_currency_mismatch_is_refused(auth_client, user, stripe_sandbox, field, value):
    body = three_ds_topup(auth_client, stripe_sandbox, amount="25.00")
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=True)
    # Our record says something other than what Stripe collected.
    TopUp.objects.filter(pk=body["topup_id"]).update(**{field: value})
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 409 and "does not match" in resp.json()["error"]
    assert TopUp.objects.get(pk=body["topup_id"]).status == TopUp.Status.REQUIRES_ACTION
    user.refresh_from_db()
    assert user.wallet_balance == 0 and not WalletTransaction.objects.exists()


def test_confirm_when_stripe_is_unreachable_is_503(auth_client, user, stripe_sandbox, settings):
    body = three_ds_topup(auth_client, stripe_sandbox)
    stripe_sandbox.authenticate(body["payment_intent_id"], body["client_secret"], success=True)
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    payments.reset_client()
    resp = post_json(auth_client, CONFIRM, {"payment_intent_id": body["payment_intent_id"]})
    assert resp.status_code == 503 and "127.0.0.1" not in resp.json()["error"]
    assert not WalletTransaction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_confirms_credit_once(make_user, stripe_sandbox):
    from tests.concurrency import run_concurrently

    user = make_user()
    result = services.start_topup(
        user=user, amount="40.00", payment_method_id=stripe_sandbox.card("4000002500003155"), idempotency_key="r"
    )
    intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=True)
    logged_in = Client()
    logged_in.force_login(user)
    session = logged_in.cookies[django_settings.SESSION_COOKIE_NAME].value

    def confirm(i):
        client = Client()
        client.cookies[django_settings.SESSION_COOKIE_NAME] = session
        resp = post_json(client, CONFIRM, {"payment_intent_id": intent.id})
        return resp.status_code, resp.json()

    results = run_concurrently(confirm, 20)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [status for status, _ in results] == [200] * 20, results
    assert {body["balance"] for _, body in results} == {"40.00"}
    assert WalletTransaction.objects.filter(stripe_payment_intent_id=intent.id).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("40.00")


def test_balance_json(client, user):
    assert client.get(reverse("wallet:balance")).status_code == 401
    user.add_balance(Decimal("1234.50"))
    client.force_login(user)
    assert client.get(reverse("wallet:balance")).json() == {
        "balance": "1234.50", "balance_display": "1,234.50 AED", "currency": "AED"}


def test_intent_not_matching_the_topup_is_a_conflict_not_a_crash(auth_client, stripe_sandbox, monkeypatch):
    from wallet import services as wallet_services
    from wallet.models import TopUp as TopUpModel

    def lost(**kwargs):
        raise TopUpModel.DoesNotExist

    monkeypatch.setattr(wallet_services.topups, "settle_topup", lost)  # where start_topup looks it up
    resp = auth_client.post(
        reverse("wallet:create_payment_intent"),
        json.dumps({"amount": "10.00", "payment_method_id": "pm_card_visa", "idempotency_key": "odd-1"}),
        content_type="application/json",
    )
    assert resp.status_code == 409 and "error" in resp.json()
