"""Penetration-test findings (issue 11): each test reproduces one attack and proves it is refused."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from netcop_hub.config import parse_rate

pytestmark = pytest.mark.django_db

HEALTH = "/admin/wallet/wallettransaction/health/"
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def grant(user, *codenames):
    for codename in codenames:
        app, _, name = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=name))


# --- 2. staff cannot grant themselves (or anyone) privileges ---------------------------------------


@pytest.fixture
def user_editor(make_user):
    """Staff holding only the user admin's view/change permissions (a support agent)."""
    staff = make_user(email="support@example.com", is_staff=True)
    grant(staff, "authentication.view_user", "authentication.change_user")
    return staff


def change_url(user):
    return reverse("admin:authentication_user_change", args=[user.pk])


def user_post(user, **extra):
    data = {
        "email": user.email, "username": user.username or "", "first_name": "", "last_name": "",
        "is_active": "on",
    }
    data.update(extra)
    return data


@pytest.mark.parametrize("target_kind", ["self", "other"])
def test_staff_user_form_has_no_privilege_fields(client, user_editor, make_user, target_kind):
    target = user_editor if target_kind == "self" else make_user()
    client.force_login(user_editor)
    response = client.get(change_url(target))
    assert response.status_code == 200
    form_fields = response.context["adminform"].form.fields
    for name in PRIVILEGE_FIELDS:
        assert name not in form_fields, name
    assert f'name="{PRIVILEGE_FIELDS[0]}"' not in response.content.decode()


def test_staff_hand_made_post_cannot_grant_privileges(client, user_editor, make_user):
    target = make_user()
    money = Permission.objects.get(codename="add_wallettransaction")
    group = Group.objects.create(name="treasury")
    group.permissions.add(money)
    client.force_login(user_editor)
    response = client.post(
        change_url(target),
        user_post(
            target, first_name="Edited", is_superuser="on", is_staff="on",
            user_permissions=[str(money.pk)], groups=[str(group.pk)],
        ),
    )
    assert response.status_code == 302  # the allowed part is saved...
    target.refresh_from_db()
    assert target.first_name == "Edited"
    # ...the privileges are not.
    assert not target.is_superuser and not target.is_staff
    assert not target.user_permissions.filter(pk=money.pk).exists() and not target.groups.exists()
    target = type(target).objects.get(pk=target.pk)  # fresh permission cache
    assert not target.has_perm("wallet.add_wallettransaction")
    # And so the money page stays closed to the support agent.
    client.force_login(user_editor)
    adjust = reverse("admin:authentication_user_adjust_balance", args=[target.pk])
    assert client.get(adjust).status_code == 403


def test_staff_cannot_edit_a_superuser_account(client, user_editor, make_user):
    """Changing a superuser's email or password would be a takeover of that account."""
    root = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(user_editor)
    client.post(change_url(root), user_post(root, email="attacker@example.com"))
    root.refresh_from_db()
    assert root.email == "root@example.com"
    password_url = reverse("admin:auth_user_password_change", args=[root.pk])
    response = client.post(password_url, {"password1": "Hijacked-pass-123", "password2": "Hijacked-pass-123",
                                          "usable_password": "true"})
    assert response.status_code == 403
    root.refresh_from_db()
    assert not root.check_password("Hijacked-pass-123")


def _staff_with_money(make_user):
    """A staff member holding money permissions: the account a takeover aims at."""
    staff = make_user(email="treasurer@example.com", is_staff=True)
    grant(staff, "wallet.add_wallettransaction")
    return staff


@pytest.fixture
def treasurer(make_user):
    return _staff_with_money(make_user)


def _with_group(make_user):
    person = make_user(email="grouped@example.com")
    group = Group.objects.create(name="refunders")
    group.permissions.add(Permission.objects.get(codename="add_wallettransaction"))
    person.groups.add(group)
    return person


def _with_permission(make_user):
    person = make_user(email="permitted@example.com")
    grant(person, "wallet.view_wallettransaction")
    return person


PRIVILEGED_TARGETS = {
    "staff with money permissions": _staff_with_money,
    "plain staff": lambda make_user: make_user(email="plainstaff@example.com", is_staff=True),
    "in a group": _with_group,
    "with a permission": _with_permission,
}


@pytest.mark.parametrize("kind", list(PRIVILEGED_TARGETS))
def test_staff_cannot_take_over_an_account_with_power(client, user_editor, make_user, kind):
    """Issue 18.1: view_user + change_user must not reach the password or email of a powerful account."""
    target = PRIVILEGED_TARGETS[kind](make_user)
    client.force_login(user_editor)
    response = client.post(change_url(target), user_post(target, email="attacker@example.com"))
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.email != "attacker@example.com"
    password_url = reverse("admin:auth_user_password_change", args=[target.pk])
    assert client.get(password_url).status_code == 403
    response = client.post(password_url, {"password1": "Hijacked-pass-123", "password2": "Hijacked-pass-123",
                                          "usable_password": "true"})
    assert response.status_code == 403
    target.refresh_from_db()
    assert not target.check_password("Hijacked-pass-123")


def test_staff_cannot_change_their_own_staff_account_in_the_admin(client, user_editor):
    client.force_login(user_editor)
    response = client.post(change_url(user_editor), user_post(user_editor, email="other@example.com"))
    assert response.status_code == 403
    user_editor.refresh_from_db()
    assert user_editor.email == "support@example.com"


def test_staff_cannot_delete_an_account_with_power(client, make_user, treasurer):
    deleter = make_user(email="deleter@example.com", is_staff=True)
    grant(deleter, "authentication.view_user", "authentication.change_user", "authentication.delete_user")
    customer = make_user(email="customer@example.com")
    client.force_login(deleter)
    delete_url = reverse("admin:authentication_user_delete", args=[treasurer.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    # The bulk action checks each selected account: one with power refuses the whole action.
    changelist = reverse("admin:authentication_user_changelist")
    response = client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [treasurer.pk, customer.pk], "post": "yes"},
    )
    assert response.status_code == 403
    User = type(treasurer)
    assert User.objects.filter(pk__in=[treasurer.pk, customer.pk]).count() == 2
    # An ordinary customer's account can still be deleted by staff allowed to.
    client.post(changelist, {"action": "delete_selected", "_selected_action": [customer.pk], "post": "yes"})
    assert not User.objects.filter(pk=customer.pk).exists()


def test_staff_still_supports_ordinary_customers(client, user_editor, make_user):
    customer = make_user(email="customer@example.com")
    client.force_login(user_editor)
    response = client.post(change_url(customer), user_post(customer, email="new@example.com"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    password_url = reverse("admin:auth_user_password_change", args=[customer.pk])
    assert client.get(password_url).status_code == 200


def test_superuser_still_manages_privileges(client, make_user):
    root = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    person = make_user()
    money = Permission.objects.get(codename="add_wallettransaction")
    client.force_login(root)
    assert "user_permissions" in client.get(change_url(person)).context["adminform"].form.fields
    response = client.post(
        change_url(person), user_post(person, is_staff="on", user_permissions=[str(money.pk)])
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_staff and person.user_permissions.filter(pk=money.pk).exists()


# --- 3. ledger health needs the ledger's view permission ------------------------------------------


def test_ledger_health_needs_the_ledger_view_permission(client, make_user):
    staff = make_user(email="ops@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get(HEALTH).status_code == 403
    grant(staff, "wallet.view_wallettransaction")
    assert client.get(HEALTH).status_code == 200


# --- 4. /admin/login/ is protected like /accounts/login/ ---------------------------------------------

ADMIN_LOGIN = "/admin/login/"


def test_admin_login_has_the_per_ip_rate_limit(client, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("3/10m")
    codes = [
        client.post(ADMIN_LOGIN, {"username": f"guess{n}@example.com", "password": "x"}).status_code
        for n in range(5)
    ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    # One budget for both log-in pages: the attacker cannot move to the other door.
    site = client.post(reverse("authentication:login"), {"username": "a@example.com", "password": "x"})
    assert site.status_code == 429


def test_admin_login_locks_out_after_failures(client, make_user, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("off")
    staff = make_user(email="ops@example.com", is_staff=True, is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(ADMIN_LOGIN, {"username": staff.email, "password": "wrong"})
    locked = client.post(ADMIN_LOGIN, {"username": staff.email, "password": "Sup3r-secret-pass"})
    assert locked.status_code == 429 and b"Too many failed log-ins" in locked.content
    assert "_auth_user_id" not in client.session
    ok = client.post(
        ADMIN_LOGIN, {"username": staff.email, "password": "Sup3r-secret-pass"}, REMOTE_ADDR="10.1.2.3"
    )
    assert ok.status_code == 302


# --- 5. password reset: no flooding, no enumeration -------------------------------------------------

RESET = "/accounts/password/reset/"


def test_password_reset_limit_default_is_five_an_hour():
    from django.conf import settings

    assert settings.PASSWORD_RESET_RATE_LIMIT == parse_rate("5/1h")


def test_password_reset_is_limited_per_target_email(client, user, mailoutbox, settings):
    settings.PASSWORD_RESET_RATE_LIMIT = parse_rate("3/1h")
    unknown = client.post(RESET, {"email": "nobody@example.com"})
    responses = [
        client.post(RESET, {"email": user.email}, REMOTE_ADDR=f"10.0.0.{n}") for n in range(1, 31)
    ]
    assert len(mailoutbox) == 3
    # Limited answers look exactly like the answer for an address with no account.
    for response in responses:
        assert response.status_code == unknown.status_code == 302
        assert response["Location"] == unknown["Location"] == reverse("authentication:password_reset_done")


def test_password_reset_is_limited_per_ip(client, make_user, mailoutbox, settings):
    settings.PASSWORD_RESET_RATE_LIMIT = parse_rate("3/1h")
    people = [make_user() for _ in range(5)]
    for person in people:
        response = client.post(RESET, {"email": person.email})
        assert response.status_code == 302
        assert response["Location"] == reverse("authentication:password_reset_done")
    assert len(mailoutbox) == 3
    client.post(RESET, {"email": people[-1].email}, REMOTE_ADDR="10.7.7.7")  # another network
    assert len(mailoutbox) == 4
    assert mailoutbox[-1].to == [people[-1].email]


def test_password_reset_limit_counts_case_insensitively(client, user, mailoutbox, settings):
    settings.PASSWORD_RESET_RATE_LIMIT = parse_rate("2/1h")
    for n, variant in enumerate([user.email, user.email.upper(), user.email.title(), user.email]):
        client.post(RESET, {"email": variant}, REMOTE_ADDR=f"10.0.1.{n}")
    assert len(mailoutbox) == 2


# --- 6. history and CSV: out-of-range dates are a form error, never a 500 ---------------------------

HISTORY = "/wallet/history/"
HISTORY_CSV = "/wallet/history/export.csv"
BAD_RANGES = [
    {"to": "9999-12-31"},
    {"from": "0001-01-01"},
    {"from": "0001-01-01", "to": "9999-12-31"},
    {"from": "2026-03-05", "to": "2026-03-01"},  # from after to: a range that means nothing
]


@pytest.fixture
def funded_client(client, make_user):
    person = make_user(balance="5.00")
    client.raise_request_exception = False
    client.force_login(person)
    return client


@pytest.mark.parametrize("query", BAD_RANGES)
def test_history_page_reports_bad_dates_and_lists_no_rows(funded_client, query):
    response = funded_client.get(HISTORY, query)
    assert response.status_code == 200
    body = response.content.decode()
    assert "data-tx-id=" not in body
    assert 'class="field-error"' in body or 'class="form-errors"' in body
    assert ("between" in body) or ("on or after the start date" in body)


@pytest.mark.parametrize("query", BAD_RANGES)
def test_history_csv_refuses_bad_dates_with_a_clear_400(funded_client, query):
    response = funded_client.get(HISTORY_CSV, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert ("between" in text) or ("on or after the start date" in text)
    assert "Traceback" not in text and "Date" not in text.splitlines()[0][:4]


def test_history_dates_at_the_edges_of_the_range_work(funded_client):
    assert funded_client.get(HISTORY, {"from": "2000-01-01", "to": "2100-12-31"}).status_code == 200
    response = funded_client.get(HISTORY_CSV, {"from": "2000-01-01", "to": "2100-12-31"})
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 2  # header + the row


# --- 7. webhook: timestamps within 300 s both ways; unknown objects acknowledged ---------------------


@pytest.fixture
def signed(webhook_secret):
    return webhook_secret


# 330 s, not 301: a second passing between signing and checking must not decide the outcome.
@pytest.mark.parametrize("offset", [3600, 330, -330, -3600])
def test_webhook_refuses_timestamps_outside_the_tolerance(client, signed, offset):
    import time

    from tests.helpers import make_event, post_event
    from wallet.models import StripeEvent

    event = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = post_event(client, event, timestamp=int(time.time()) + offset)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("offset", [-200, 0, 200])
def test_webhook_accepts_timestamps_within_the_tolerance(client, signed, offset):
    import time

    from tests.helpers import make_event, post_event

    event = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    assert post_event(client, event, timestamp=int(time.time()) + offset).status_code == 200


def test_webhook_about_an_intent_nobody_knows_is_acknowledged_and_logged(
    client, signed, stripe_sandbox, caplog
):
    from tests.helpers import intent_event, post_event
    from wallet.models import StripeEvent

    event = intent_event("pi_0000000000000000000nobody")
    with caplog.at_level("INFO", logger="wallet.webhooks"):
        response = post_event(client, event)
    assert response.status_code == 200
    stored = StripeEvent.objects.get(pk=event["id"])
    assert stored.processed_at is not None
    assert any("pi_0000000000000000000nobody" in record.getMessage() for record in caplog.records)


def test_webhook_about_a_charge_nobody_knows_is_acknowledged_and_logged(
    client, signed, stripe_sandbox, make_user, caplog
):
    from decimal import Decimal

    from tests.helpers import make_event, post_event
    from wallet.models import StripeEvent, TopUp

    # The intent is one of ours, the charge id is not known to Stripe.
    TopUp.objects.create(
        user=make_user(), amount=Decimal("10.00"), currency="AED", idempotency_key="k",
        stripe_payment_intent_id="pi_ours",
    )
    event = make_event("charge.refunded", {"id": "ch_nobody", "object": "charge", "payment_intent": "pi_ours"})
    with caplog.at_level("INFO", logger="wallet.webhooks"):
        response = post_event(client, event)
    assert response.status_code == 200
    assert StripeEvent.objects.get(pk=event["id"]).processed_at is not None
    assert any("ch_nobody" in record.getMessage() for record in caplog.records)


# --- 8. SSRF: the http agent runner calls public hosts only -------------------------------------------

PRIVATE_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/",
    "http://[::1]/",
    "http://127.0.0.1:8080/x",
    "http://127.1/",
    "http://0x7f.0.0.1/",
    "http://0/",
    "http://10.0.0.5/",
    "http://192.168.1.10/",
    "http://172.16.0.1/",
    "http://100.100.100.200/",  # shared address space (a cloud's metadata lives there)
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00:ec2::254]/",  # AWS IPv6 metadata
    "http://[fe80::1]/",
    "https://localhost/",
    "http://api.localhost./",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_http_agent_config_refuses_private_addresses(url, settings):
    from agents.runners import validate_runner_config

    settings.AGENT_HTTP_ALLOW_PRIVATE = False
    errors = validate_runner_config("http", {"url": url})
    assert "config" in errors and "AGENT_HTTP_ALLOW_PRIVATE" in " ".join(errors["config"])
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    assert validate_runner_config("http", {"url": url}) == {}


def test_http_agent_config_accepts_public_hosts(settings):
    from agents.runners import validate_runner_config

    for url in ("https://n8n.example.com/webhook/x", "http://8.8.8.8/", "https://[2606:4700::1111]/"):
        assert validate_runner_config("http", {"url": url}) == {}, url


def test_admin_refuses_to_save_an_agent_calling_the_metadata_service(client, make_user):
    from agents.models import Agent

    client.force_login(make_user(is_staff=True, is_superuser=True))
    data = {
        "name": "Meta", "slug": "meta", "description": "x", "price": "1.00", "is_active": "on",
        "runner": "http", "config": '{"url": "http://169.254.169.254/latest/meta-data/"}',
        "input_label": "Input", "input_placeholder": "", "sort_order": "1",
    }
    response = client.post("/admin/agents/agent/add/", data)
    assert response.status_code == 200
    assert "private, loopback, link-local or cloud-metadata" in response.content.decode()
    assert not Agent.objects.exists()


@pytest.fixture
def local_agent_server():
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(self.path)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = {"/created": 201, "/no-content": 204, "/forbidden": 403}.get(self.path, 200)
            ctype = "text/html" if self.path == "/html" else "text/plain"
            body = b"" if status == 204 else b"secret internal answer"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def test_http_runner_refuses_loopback_by_default(local_agent_server, settings):
    from agents.exceptions import RunnerError
    from agents.runners import run_http

    port, hits = local_agent_server
    assert not settings.AGENT_HTTP_ALLOW_PRIVATE  # the default
    with pytest.raises(RunnerError) as err:
        run_http("x", {"url": f"http://127.0.0.1:{port}/ok", "timeout": 2})
    assert err.value.user_message == "This agent is misconfigured."
    assert hits == []
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    assert run_http("x", {"url": f"http://127.0.0.1:{port}/ok", "timeout": 2}) == "secret internal answer"


def _fake_dns(monkeypatch, answers):
    """Make getaddrinfo answer `answers(host)` (a list of IPs) for *.example.test names."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".example.test"):
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port) if ":" not in ip else (ip, port, 0, 0))
                for ip in answers(host)
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_http_runner_refuses_a_name_that_resolves_to_loopback(local_agent_server, monkeypatch, settings):
    from agents.exceptions import RunnerError
    from agents.runners import run_http, validate_runner_config

    port, hits = local_agent_server
    _fake_dns(monkeypatch, lambda host: ["127.0.0.1"])
    config = {"url": f"http://agent.example.test:{port}/ok", "timeout": 2}
    assert validate_runner_config("http", config) == {}  # a name: only run time can tell
    with pytest.raises(RunnerError, match="http: refused"):
        run_http("x", config)
    assert hits == []


def test_http_runner_checks_every_address_of_a_name(local_agent_server, monkeypatch):
    from agents.exceptions import RunnerError
    from agents.runners import run_http

    port, hits = local_agent_server
    _fake_dns(monkeypatch, lambda host: ["8.8.8.8", "127.0.0.1"])
    with pytest.raises(RunnerError, match="http: refused"):
        run_http("x", {"url": f"http://agent.example.test:{port}/ok", "timeout": 1})
    assert hits == []


def test_http_runner_connects_to_the_address_it_vetted(local_agent_server, monkeypatch):
    """DNS rebinding: the first answer is public, every later one is loopback."""
    from agents.exceptions import RunnerError
    from agents.runners import run_http

    port, hits = local_agent_server
    calls = []

    def rebinding(host):
        calls.append(host)
        return ["8.8.8.8"] if len(calls) == 1 else ["127.0.0.1"]

    _fake_dns(monkeypatch, rebinding)
    with pytest.raises(RunnerError):
        run_http("x", {"url": f"http://rebind.example.test:{port}/ok", "timeout": 1})
    assert hits == []


@pytest.mark.parametrize("path", ["/redirect", "/no-content", "/forbidden", "/html"])
def test_http_runner_output_is_only_a_2xx_text_or_json_answer(local_agent_server, settings, path):
    from agents.exceptions import RunnerError
    from agents.runners import run_http

    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    port, hits = local_agent_server
    with pytest.raises(RunnerError):
        run_http("x", {"url": f"http://127.0.0.1:{port}{path}", "timeout": 2})
    assert hits == [path]  # a redirect is not followed
    assert run_http("x", {"url": f"http://127.0.0.1:{port}/created", "timeout": 2}) == "secret internal answer"


def test_failed_private_http_agent_run_is_refunded(client, make_user, local_agent_server,
                                                   django_capture_on_commit_callbacks):
    import json
    import uuid
    from decimal import Decimal

    from agents.models import Agent, AgentRun

    port, hits = local_agent_server
    person = make_user(balance=Decimal("10.00"))
    client.force_login(person)
    agent = Agent.objects.create(
        name="Local", slug="local", description="d", price=Decimal("2.00"), runner="http",
        config={"url": f"http://localhost:{port}/ok", "timeout": 2},
    )
    with django_capture_on_commit_callbacks(execute=True):  # the queued run runs on commit (test backend)
        queued = client.post(
            reverse("agents:use", args=[agent.slug]),
            json.dumps({"input": "x", "request_id": str(uuid.uuid4())}), content_type="application/json",
        )
    assert queued.status_code == 202
    response = client.get(queued.json()["status_url"])
    # A failed run is an outcome (refunded), answered 200 with its status, not a 502.
    assert response.status_code == 200 and response.json()["status"] == "failed" and response.json()["refunded"] is True
    assert "secret internal answer" not in response.content.decode()
    person.refresh_from_db()
    assert person.wallet_balance == Decimal("10.00")
    assert AgentRun.objects.get().status == AgentRun.Status.FAILED and hits == []
