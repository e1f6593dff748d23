"""Issue 12 (agents): input refused before the charge, limits shown and enforced without truncation,
the balance in every answer, the 402 in figures and words, readable results and an "All runs" page."""

import json
import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from agents import reports
from agents.builtins import email_headers, logs, passwords, phishing
from agents.models import Agent, AgentRun
from agents.services import run_agent
from wallet.models import WalletTransaction

pytestmark = pytest.mark.django_db

LOG_LINE = '203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /../../etc/passwd HTTP/1.1" 400 0 "-" "sqlmap/1.7"'
OK_LINE = '198.51.100.7 - - [10/Oct/2024:13:55:37 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
HEADERS = (
    "Received: from mx.example.net (mx.example.net [203.0.113.5]) by mail.example.org with ESMTPS; "
    "Thu, 10 Oct 2024 13:55:36 +0000\n"
    "Received: from sender.bulk.example (unknown [198.51.100.9]) by mx.example.net with SMTP; "
    "Thu, 10 Oct 2024 13:55:30 +0000\n"
    'From: "PayPal" <service@paypa1.example>\nReturn-Path: <b@bulk.example>\nTo: me@example.org\n'
    "Authentication-Results: mx; spf=fail; dkim=none; dmarc=fail\nSubject: Limited\n"
)


@pytest.fixture
def agents(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return {a.runner: a for a in Agent.objects.all()}


@pytest.fixture
def http_agent(db):
    return Agent.objects.create(
        name="Remote", slug="remote", description="n8n", price=Decimal("1.00"), runner="http",
        config={"url": "https://agents.example.com/hook"},
    )


@pytest.fixture
def person(make_user, client):
    user = make_user(balance=Decimal("50.00"))
    client.force_login(user)
    return user


def use(client, agent, text, **extra):
    body = {"input": text, "request_id": str(uuid.uuid4())}
    return client.post(f"/agents/{agent.slug}/use/", json.dumps(body), content_type="application/json", **extra)


def ledger_rows(user):
    return WalletTransaction.objects.filter(user=user).count()


def balance_of(user):
    return get_user_model().objects.get(pk=user.pk).wallet_balance


# --- 2. input a runner cannot use is refused before any charge -------------------------------------

@pytest.mark.parametrize(
    ("runner", "text", "expects"),
    [
        ("phishing_url", "hello there, nothing to see", "This agent checks links"),
        ("phishing_url", "   \n ", "This agent checks links"),
        ("email_headers", "just a sentence, not headers", "This agent reads a message's raw headers"),
        ("log_triage", "this is not an access log\nnor is this", "Common or Combined Log Format"),
        ("password_audit", " \n\t", "Enter a password to audit"),
    ],
)
def test_garbage_input_is_a_400_saying_what_the_agent_expects_and_writes_no_ledger_row(
    client, person, agents, runner, text, expects
):
    response = use(client, agents[runner], text)
    assert response.status_code == 400
    assert expects in response.json()["error"]
    assert not AgentRun.objects.exists()
    assert ledger_rows(person) == 1 and balance_of(person) == Decimal("50.00")


def test_blank_input_to_an_external_agent_is_refused_without_a_charge(client, person, http_agent):
    response = use(client, http_agent, "   ")
    assert response.status_code == 400 and "Enter some text" in response.json()["error"]
    assert ledger_rows(person) == 1


@pytest.mark.parametrize(
    ("runner", "make_text", "message"),
    [
        ("phishing_url", lambda: " ".join(f"https://site{i}.example/" for i in range(26)),
         "The input has 26 different URLs; this agent checks up to 25 per run."),
        ("password_audit", lambda: "\n".join(f"pass-{i}" for i in range(11)),
         "The input has 11 passwords (one per line); this agent audits up to 10 per run."),
        ("email_headers", lambda: "".join(f"Received: from h{i} by h{i + 1}; Thu, 10 Oct 2024 13:55:36 +0000\n"
                                          for i in range(51)) + "From: a@b.example\n",
         "The headers have 51 Received lines; this agent traces up to 50 hops per run."),
        ("log_triage", lambda: LOG_LINE + "\n" + "x\n" * 20_000,
         "The log has 20,001 lines; this agent triages up to 20,000 per run."),
    ],
)
def test_more_than_a_run_handles_is_refused_whole_not_cut(client, person, agents, runner, make_text, message):
    response = use(client, agents[runner], make_text())
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert not AgentRun.objects.exists() and ledger_rows(person) == 1


def test_the_service_validates_before_charging(person, agents):
    from agents.exceptions import InvalidAgentInput

    with pytest.raises(InvalidAgentInput):
        run_agent(user=person, agent=agents["phishing_url"], input_text="no link", request_id=uuid.uuid4())
    assert ledger_rows(person) == 1


def test_a_failure_while_running_is_still_charged_and_refunded(client, person, http_agent, settings,
                                                               django_capture_on_commit_callbacks):
    settings.AGENT_HTTP_ALLOW_PRIVATE = True
    Agent.objects.filter(pk=http_agent.pk).update(config={"url": "http://127.0.0.1:9/", "timeout": 2})
    # http agents are queued: 202, then (the test backend runs it on commit) the status URL tells.
    with django_capture_on_commit_callbacks(execute=True):
        queued = use(client, http_agent, "scan this").json()
    data = client.get(queued["status_url"]).json()
    assert data["status"] == "failed" and data["refunded"] is True
    assert ledger_rows(person) == 3 and balance_of(person) == Decimal("50.00")


# --- 3. limits shown, counted and enforced; never a silent cut -------------------------------------

def test_page_shows_each_agents_limits_and_has_no_truncating_maxlength(client, person, agents):
    page = client.get(f"/agents/{agents['phishing_url'].slug}/").content.decode()
    assert "Up to 50,000 characters" in page and "Up to 25 URLs per run" in page
    assert 'data-max-chars="50000"' in page and "maxlength" not in page
    assert 'id="agent-input-count"' in page and "0 / 50,000" in page
    page = client.get(f"/agents/{agents['log_triage'].slug}/").content.decode()
    assert "Up to 1,000,000 characters" in page and "Up to 20,000 lines per run" in page
    page = client.get(f"/agents/{agents['email_headers'].slug}/").content.decode()
    assert "Up to 50 Received hops" in page
    page = client.get(f"/agents/{agents['password_audit'].slug}/").content.decode()
    assert "Up to 10 passwords, one per line" in page


def test_over_the_character_limit_is_a_413_with_the_servers_message_and_no_charge(client, person, agents):
    text = "https://a.example/ " + "x" * 50_000
    response = use(client, agents["phishing_url"], text)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "The input is too long: 50,019 characters; this agent takes up to 50,000."
    assert body["length"] == 50_019 and body["limit"] == 50_000 and body["balance"] == "50.00"
    assert not AgentRun.objects.exists() and ledger_rows(person) == 1


def test_a_100kb_log_is_analysed_whole(client, person, agents):
    lines = [LOG_LINE if i % 10 == 0 else OK_LINE for i in range(1_100)]
    text = "\n".join(lines)
    assert len(text) > 100_000
    data = use(client, agents["log_triage"], text).json()
    assert data["status"] == "succeeded"
    assert "Lines: 1100 read, 1100 parsed" in data["output"]
    assert AgentRun.objects.get(pk=data["run_id"]).input == text  # stored whole, not cut


def test_form_post_over_the_limit_comes_back_with_the_text_and_the_message(client, person, agents):
    agent = agents["phishing_url"]
    text = "https://a.example/ " + "y" * 60_000
    response = client.post(f"/agents/{agent.slug}/use/", {"input": text, "request_id": str(uuid.uuid4())})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "The input is too long: 60,019 characters; this agent takes up to 50,000." in page
    assert 'class="char-count is-over"' in page and "60,019 / 50,000" in page
    assert text in page  # nothing cut
    assert ledger_rows(person) == 1


def test_sensitive_input_is_not_kept_in_the_session_after_a_refusal(client, person, agents):
    agent = agents["password_audit"]
    secret = "\n".join(f"Secret-{i}" for i in range(11))
    client.post(f"/agents/{agent.slug}/use/", {"input": secret, "request_id": str(uuid.uuid4())})
    assert "Secret-1" not in json.dumps(dict(client.session))
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "this agent audits up to 10 per run" in page and "Secret-1" not in page


# --- 4. the balance in every answer; the 402 in figures and words ----------------------------------

def test_402_states_balance_price_shortfall_and_the_way_to_top_up(client, make_user, agents):
    user = make_user()
    client.force_login(user)
    agent = agents["log_triage"]  # 5.00 AED
    response = use(client, agent, LOG_LINE)
    assert response.status_code == 402
    assert response.json() == {
        "error": "Not enough balance: this run costs 5.00 AED and your wallet has 0.00 AED (5.00 AED short).",
        "code": "insufficient_balance",
        "balance": "0.00",
        "balance_display": "0.00 AED",
        "price": "5.00",
        "price_display": "5.00 AED",
        "shortfall": "5.00",
        "shortfall_display": "5.00 AED",
        "topup_amount": "5.00",
        "topup_url": "/wallet/?amount=5.00&next=/agents/log-triage/",
        "topup_label": "Top up 5.00 AED to run Access log triage",
    }
    assert ledger_rows(user) == 0


def test_402_suggests_at_least_the_top_up_minimum(client, make_user, agents):
    user = make_user(balance=Decimal("4.50"))
    client.force_login(user)
    body = use(client, agents["log_triage"], LOG_LINE).json()
    assert body["shortfall"] == "0.50" and body["topup_amount"] == "2.00"
    assert body["topup_url"] == "/wallet/?amount=2.00&next=/agents/log-triage/"
    assert body["topup_label"] == "Top up 2.00 AED to run Access log triage"


def test_refusals_carry_the_current_balance(client, person, agents):
    # The balance moved since the page was rendered (another tab, a top-up): the answer says so.
    from wallet import services
    from wallet.models import TxType

    services.credit(user=person, amount=Decimal("7.00"), type=TxType.ADJUSTMENT, description="elsewhere")
    for response in (
        use(client, agents["phishing_url"], "no link"),
        use(client, agents["phishing_url"], "x" * 50_001),
        client.post(f"/agents/{agents['phishing_url'].slug}/use/", "{bad", content_type="application/json"),
    ):
        assert response.json()["balance"] == "57.00", response.json()
        assert response.json()["balance_display"] == "57.00 AED"


# --- 14. readable results and all runs -------------------------------------------------------------

def test_log_triage_result_has_a_verdict_badge_and_real_tables(client, person, agents):
    data = use(client, agents["log_triage"], f"{LOG_LINE}\n{OK_LINE}\n{OK_LINE}").json()
    html = data["html"]
    assert 'class="badge badge-risk-danger">Attack traffic found<' in html
    assert "<caption>Top client IPs</caption>" in html and "<caption>Top paths</caption>" in html
    assert re.search(r'<td data-label="Client IP">203\.0\.113\.9</td><td data-label="Requests" class="num">1</td>', html)
    assert "1 request " in data["output"] and "1 requests" not in data["output"]
    assert "2 requests" in data["output"] and "1 error" in data["output"]


def test_email_result_has_a_hop_table_and_a_verdict(client, person, agents):
    html = use(client, agents["email_headers"], HEADERS).json()["html"]
    assert 'badge-risk-danger">Likely spoofed<' in html
    assert "<caption>Route (2 hops, first to last)</caption>" in html
    assert '<td data-label="From">sender.bulk.example (unknown)</td>' in html
    assert '<td data-label="Delay" class="num">+6s</td>' in html
    assert "Likely spoofed or malicious (2 failures, 2 warnings)." in html


@pytest.mark.parametrize(
    ("runner", "text", "badge"),
    [
        ("phishing_url", "https://xn--pypal-4ve.com/login", "badge-risk-danger\">High risk<"),
        ("phishing_url", "https://github.com/", "badge-risk-ok\">No red flags<"),
        ("password_audit", "password123", "badge-risk-danger\">Fails the policy<"),
        ("log_triage", OK_LINE, "badge-risk-ok\">Nothing urgent<"),
    ],
)
def test_verdicts_are_worded_and_coloured(client, person, agents, runner, text, badge):
    assert badge in use(client, agents[runner], text).json()["html"]


def test_one_password_meets_the_policy_in_the_singular(client, person, agents):
    output = use(client, agents["password_audit"], "Tr0ub4dor&3-horse-staple").json()["output"]
    assert re.search(r"RESULT: \d of 1 meets the policy", output)
    assert "Password 1 (24 characters)" in output


def test_a_run_without_a_stored_report_is_shown_as_its_text(client, person, agents):
    """Older runs (and plain-text runners) have no report: their text is shown as it is, never
    parsed back into a verdict, even when it reads like a built-in's report."""
    agent = agents["log_triage"]
    run = run_agent(user=person, agent=agent, input_text=OK_LINE, request_id=uuid.uuid4()).run
    assert run.report["verdict"] == {"level": "ok", "label": "Nothing urgent"}
    AgentRun.objects.filter(pk=run.pk).update(report=None)  # as stored before reports were
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    assert "badge-risk-" not in page and "<caption>" not in page
    assert re.search(r'<pre class="run-output"[^>]*>ACCESS LOG TRIAGE\n', page)
    assert "Plain-text report" not in page  # the text is the report: no second copy


def test_the_json_answer_carries_the_structured_report(client, person, agents):
    data = use(client, agents["phishing_url"], "https://xn--pypal-4ve.com/login https://github.com/").json()
    report = data["report"]
    assert report["verdict"] == {"level": "danger", "label": "High risk"}
    cards = [block for block in report["blocks"] if block["kind"] == "card"]
    assert [card["badge"]["label"] for card in cards] == ["High risk", "No red flags"]
    assert ["Risk score", "12"] in cards[0]["facts"]
    assert data["output"].startswith("PHISHING URL CHECK: 2 URLs analysed")
    assert reports.Report.from_json(report).verdict == reports.Verdict("danger", "High risk")


def test_recent_runs_show_the_newest_expanded_and_the_rest_collapsed(client, person, agents):
    agent = agents["phishing_url"]
    ids = [use(client, agent, f"https://site{i}.example/").json()["run_id"] for i in range(3)]
    page = client.get(f"/agents/{agent.slug}/").content.decode()
    opened = re.findall(r'<li class="run[^"]*" id="run-([0-9a-f-]+)">\s*<details class="card run-card" data-run( open)?>', page)
    assert [(rid, flag) for rid, flag in opened] == [(ids[2], " open"), (ids[1], ""), (ids[0], "")]
    assert f'href="/agents/{agent.slug}/runs/"' in page


def test_all_runs_page_paginates_25_and_shows_only_the_users_runs(client, person, agents, make_user):
    agent = agents["password_audit"]
    for i in range(27):
        run_agent(user=person, agent=agent, input_text=f"pw{i}", request_id=uuid.uuid4())
    other = make_user(balance=Decimal("5.00"))
    run_agent(user=other, agent=agent, input_text="theirs", request_id=uuid.uuid4())
    page = client.get(f"/agents/{agent.slug}/runs/").content.decode()
    assert "1–25 of 27" in page and page.count('data-run>') == 25
    assert 'href="?page=2"' in page and "Page 1 of 2" in page
    page2 = client.get(f"/agents/{agent.slug}/runs/?page=2").content.decode()
    assert "26–27 of 27" in page2 and page2.count('data-run>') == 2
    assert client.get(f"/agents/{agent.slug}/runs/?page=99").status_code == 200  # the last page
    client.force_login(other)
    assert "1–1 of 1" in client.get(f"/agents/{agent.slug}/runs/").content.decode()


def test_all_runs_page_needs_a_login(client, agents):
    response = client.get(f"/agents/{agents['phishing_url'].slug}/runs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_builtin_limits_match_the_validators():
    assert phishing.LIMITS.notes == ("Up to 25 URLs per run",)
    assert logs.LIMITS.max_chars == 1_000_000 and email_headers.LIMITS.max_chars == 100_000
    assert passwords.LIMITS.max_chars == 2_000


def test_phishing_and_password_results_are_one_card_per_item(client, person, agents):
    html = use(client, agents["phishing_url"], "https://xn--pypal-4ve.com/login https://github.com/").json()["html"]
    assert html.count('<section class="check">') == 2
    assert 'badge-risk-danger">High risk</span> <span class="check-name">https://xn--pypal-4ve.com/login<' in html
    assert "<dt>Risk score</dt><dd>12</dd>" in html and 'tag-danger">+5<' in html
    html = use(client, agents["password_audit"], "password123\nCorrect-Horse-Battery-Staple-42").json()["html"]
    assert 'badge-risk-danger">Fails</span> <span class="check-name">Password 1 (11 characters)<' in html
    assert 'badge-risk-ok">Passes</span>' in html and 'badge-risk-warning">1 of 2 fail<' in html
    assert "password123" not in html  # the report never repeats a password
