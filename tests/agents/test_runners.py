"""The built-in runners on realistic and hostile input, and the http runner against a local server."""

import http.server
import json
import os
import random
import threading
import time

import pytest

from agents.exceptions import RunnerError, RunnerTimeout
from agents.runners import REGISTRY, run_http, validate_runner_config


def plain_text_of(key: str):
    """The runner's plain-text report (what the CSV, the raw view and API clients read)."""
    spec = REGISTRY[key]
    return lambda text, config: spec(text, config).text


phishing = plain_text_of("phishing_url")
headers = plain_text_of("email_headers")
passwords = plain_text_of("password_audit")
logs = plain_text_of("log_triage")

JUNK = bytes(random.Random(5).randrange(256) for _ in range(20_000)).decode("latin-1")


# Wall-clock bounds here catch runaway (e.g. quadratic) work on hostile input; they are not
# benchmarks. Each run takes well under 2 s; the bound leaves room for a busy 2-core CI machine.
RUNAWAY_SECONDS = 30


def verdict_of(report: str, index: int) -> str:
    block = report.split(f"[{index}] ", 1)[1]
    return block.split("Verdict: ", 1)[1].split("\n", 1)[0]


# --- phishing URL checker -------------------------------------------------------------------------

def test_phishing_flags_homograph_punycode_and_subdomain_brand():
    report = phishing(
        "Check these:\nhttps://xn--pypal-4ve.com/login\nhttp://paypal.com.secure-login.xyz/verify\n"
        "https://www.paypal.com/signin", {}
    )
    assert "3 URLs analysed" in report
    assert verdict_of(report, 1).startswith("HIGH RISK")
    assert "mixes scripts (CYRILLIC, LATIN)" in report
    assert "pаypal.com (sent as xn--pypal-4ve.com)" in report
    assert verdict_of(report, 2).startswith("HIGH RISK")
    assert "'paypal' appears as a sub-domain, but the site belongs to secure-login.xyz" in report
    assert "official paypal domain" in report
    assert not verdict_of(report, 3).startswith(("HIGH", "SUSPICIOUS"))


def test_phishing_ip_hosts_userinfo_typosquat_and_defanged():
    report = phishing(
        "http://192.0.2.10:8080/update.exe hxxps://micros0ft[.]com/login http://2130706433/ "
        "https://accounts.google.com@evil.top/ https://paypa1.com", {}
    )
    assert "bare IP address 192.0.2.10" in report
    assert "Non-standard port 8080" in report
    assert "downloads an executable" in report
    assert "[2] https://micros0ft.com/login" in report
    assert "imitates microsoft with look-alike characters" in report
    assert "obfuscated IP address" in report
    assert "the browser really opens evil.top" in report
    assert "imitates paypal" in report
    for i in range(1, 6):
        assert verdict_of(report, i).startswith(("HIGH", "SUSPICIOUS")), (i, report)


def test_phishing_javascript_url_and_malformed_host():
    report = phishing("javascript:alert(document.cookie) http://[::1/login", {})
    assert verdict_of(report, 1).startswith("HIGH RISK")
    assert "malformed" in report


def test_phishing_clean_domain_has_no_red_flags():
    report = phishing("https://github.com/django/django", {})
    assert "NO RED FLAGS FOUND" in report or "LOW RISK" in report
    assert "official github domain" in report


def test_phishing_without_urls_is_a_runner_error_with_a_safe_message():
    with pytest.raises(RunnerError) as err:
        phishing("hello there, nothing to see", {})
    assert "No URL found" in err.value.user_message


def test_phishing_huge_input_is_bounded():
    text = " ".join(f"http://host{i}.example{i % 7}.zip/login" for i in range(50_000))
    start = time.monotonic()
    report = phishing(text, {})
    assert time.monotonic() - start < RUNAWAY_SECONDS
    assert "25 URLs analysed" in report
    assert "Only the first 25 of" in report


def test_phishing_binary_junk_and_unicode_do_not_crash():
    try:
        report = phishing(JUNK, {})
    except RunnerError:
        report = ""
    assert "\x00" not in report
    report = phishing("🙂 https://例え.テスト/ログイン 🙂 http://ｐａｙｐａｌ.com", {})
    assert "2 URLs analysed" in report


# --- email headers --------------------------------------------------------------------------------

SPOOFED = """Return-Path: <bounce@mailer.evil-mail.ru>
Received: from mx.example.org (mx.example.org [203.0.113.5])
	by inbox.example.org with ESMTPS id abc; Tue, 5 Mar 2024 10:00:05 +0000
Received: from unknown (HELO paypal.com) ([198.51.100.7])
	by mx.example.org with SMTP; Tue, 5 Mar 2024 10:00:01 +0000
Authentication-Results: inbox.example.org; spf=fail smtp.mailfrom=evil-mail.ru;
	dkim=none; dmarc=fail header.from=paypa1-support.com
DKIM-Signature: v=1; a=rsa-sha256; d=evil-mail.ru; s=s1; bh=abc; b=xyz
From: "service@paypal.com" <alerts@paypa1-support.com>
Reply-To: collect@gmail.com
To: victim@example.org
Subject: =?utf-8?B?WW91ciBhY2NvdW50IGlzIGxpbWl0ZWQ=?=
Date: Tue, 5 Mar 2024 10:00:00 +0000
Message-ID: <123@paypa1-support.com>
"""

CLEAN = """Delivered-To: me@example.org
Received: by 2002:a05:6a10:1234 with SMTP id x; Mon, 4 Mar 2024 09:00:03 -0800 (PST)
Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])
        by mx.google.com with SMTPS id y; Mon, 04 Mar 2024 09:00:02 -0800 (PST)
Authentication-Results: mx.google.com;
       dkim=pass header.i=@github.com header.s=pf2023 header.b=abc;
       spf=pass (google.com: domain of noreply@github.com designates 192.30.252.201 as permitted sender) smtp.mailfrom=noreply@github.com;
       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=github.com
Return-Path: <noreply@github.com>
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=github.com; s=pf2023; h=from:to; bh=x; b=y
From: GitHub <noreply@github.com>
To: me@example.org
Subject: [GitHub] A new SSH key was added
Date: Mon, 04 Mar 2024 09:00:01 -0800
Message-ID: <abc@github.com>
"""


def test_headers_spoofed_message():
    report = headers(SPOOFED, {})
    assert "Route (2 hops, first to last)" in report
    assert "1. from unknown (HELO paypal.com) [198.51.100.7]" in report
    assert "(+4s)" in report
    assert "Subject:     Your account is limited" in report
    assert "SPF   fail" in report and "DMARC fail" in report
    assert "differs from the Return-Path" in report
    assert "Replies go to another domain (gmail.com)" in report
    assert "display name shows the address" in report
    assert "VERDICT: LIKELY SPOOFED OR MALICIOUS" in report


def test_headers_clean_message_is_consistent():
    report = headers(CLEAN, {})
    assert "SPF   pass" in report and "DKIM  pass" in report and "DMARC pass" in report
    assert "DKIM signed by: github.com" in report
    assert "[209.85.220.41]" in report
    assert "VERDICT: CONSISTENT" in report


def test_headers_hop_stamped_before_previous_is_flagged():
    forged = CLEAN.replace("09:00:03 -0800", "08:00:03 -0800")
    assert "clock skew or forged Received lines" in headers(forged, {})


def test_headers_junk_is_a_runner_error():
    for junk in ("just some words\nno headers", JUNK):
        with pytest.raises(RunnerError) as err:
            headers(junk, {})
        assert "No email headers found" in err.value.user_message


def test_headers_huge_and_unicode_input():
    huge = SPOOFED + "".join(f"X-Filler-{i}: {'é' * 50}\n" for i in range(20_000))
    start = time.monotonic()
    report = headers(huge, {})
    assert time.monotonic() - start < RUNAWAY_SECONDS
    assert "VERDICT" in report
    report = headers("From: Zoë 🙂 <zoe@exämple.org>\nSubject: Grüße\nTo: a@b.c\n", {})
    assert "Zoë 🙂" in report
    assert "No Received headers" in report


# --- passwords ------------------------------------------------------------------------------------

def test_password_audit_scores_and_never_repeats_the_password():
    report = passwords("password123\nTr0ub4dor&3\ncorrect horse battery staple orbit", {})
    assert "Password 1 (11 characters)" in report
    assert "Strength:   0/4, very weak" in report
    assert "in the 10,000 most common passwords" in report
    assert "This is a very common password." in report
    assert "Password 3 (34 characters)" in report
    assert "Strength:   4/4, very strong" in report
    assert "RESULT: 1 of 3 meet the policy" in report
    for secret in ("password123", "Tr0ub4dor&3", "correct horse", "battery"):
        assert secret not in report


def test_password_audit_hostile_input():
    report = passwords("x" * 100_000, {})
    assert "only the first 72 characters were analysed" in report
    report = passwords("\n".join(f"pässwörd-{i}-🙂" for i in range(30)), {})
    assert "Only the first 10 of 30 lines were audited." in report
    report = passwords(JUNK[:500], {})
    assert "PASSWORD STRENGTH AUDIT" in report
    with pytest.raises(RunnerError, match="no password"):
        passwords("\n \n", {})


def test_password_runner_is_marked_sensitive():
    assert REGISTRY["password_audit"].sensitive_input
    assert not REGISTRY["phishing_url"].sensitive_input


# --- log triage -----------------------------------------------------------------------------------

def log_line(ip, second, path="/", status=200, agent="Mozilla/5.0", minute=55):
    return (f'{ip} - - [10/Oct/2024:13:{minute:02d}:{second:02d} +0000] "GET {path} HTTP/1.1" {status} 512 '
            f'"-" "{agent}"')


def test_log_triage_finds_bursts_bruteforce_and_attacks():
    lines = [log_line("203.0.113.9", s % 60, "/login", 401) for s in range(45)]
    lines += [log_line("198.51.100.2", s, "/index.html") for s in range(10)]
    lines += [log_line("192.0.2.66", 1, "/../../etc/passwd", 400, "sqlmap/1.7"),
              log_line("192.0.2.66", 2, "/item?id=1%27%20OR%201=1", 500, "sqlmap/1.7"),
              log_line("192.0.2.66", 3, "/wp-login.php", 404, "sqlmap/1.7"),
              log_line("192.0.2.66", 4, "/search?q=<script>alert(1)</script>", 200, "sqlmap/1.7")]
    lines.append("this is not a log line")
    report = logs("\n".join(lines), {})
    assert "Lines: 60 read, 59 parsed, 1 not recognised (first at line 60)" in report
    assert "Unique client IPs: 3" in report
    top_ip_line = report.split("Top client IPs\n", 1)[1].split("\n", 1)[0]
    assert top_ip_line.split() == ["203.0.113.9", "45", "requests", "45", "errors"]
    assert "[BURST]  203.0.113.9 sent 45 requests in the minute 2024-10-10 13:55" in report
    assert "[AUTH]   203.0.113.9 got 45 401/403 responses" in report
    assert "[ATTACK] Path traversal: 1 request from 192.0.2.66" in report
    assert "[ATTACK] SQL injection" in report
    assert "[ATTACK] Cross-site scripting" in report
    assert "[ATTACK] Admin/CMS login probe" in report
    assert "[SCAN]   192.0.2.66 uses a scanner" in report
    assert "RECOMMENDATION: review and consider rate-limiting or blocking: 192.0.2.66, 203.0.113.9" in report


def test_log_triage_quiet_log_and_config_threshold():
    quiet = "\n".join(log_line("198.51.100.2", s) for s in range(20))
    report = logs(quiet, {})
    assert "No bursts, probes or attack patterns found." in report
    assert "[BURST]" in logs(quiet, {"burst_per_minute": 10})


def test_log_triage_hostile_input():
    with pytest.raises(RunnerError) as err:
        logs(JUNK, {})
    assert "No access-log lines recognised" in err.value.user_message
    huge = "\n".join(log_line(f"10.0.{i % 250}.{i % 200}", i % 60, minute=i % 60) for i in range(25_000))
    start = time.monotonic()
    report = logs(huge, {})
    assert time.monotonic() - start < RUNAWAY_SECONDS
    assert "Only the first 20000 lines were analysed." in report
    report = logs(log_line("2001:db8::1", 5, "/ünïcode/🙂?q=\x1b[31m"), {})
    assert "/ünïcode/🙂" in report
    assert "\x1b" not in report


# --- registry and config validation ---------------------------------------------------------------

def test_registry_rejects_unknown_runner_and_bad_http_config():
    assert "runner" in validate_runner_config("nope", {})
    assert validate_runner_config("phishing_url", {}) == {}
    assert "config" in validate_runner_config("phishing_url", [])
    assert "config" in validate_runner_config("http", {})
    assert "config" in validate_runner_config("http", {"url": "file:///etc/passwd"})
    assert "config" in validate_runner_config("http", {"url": "http://127.0.0.1:1/", "timeout": 0})
    assert "config" in validate_runner_config("http", {"url": "http://127.0.0.1:1/", "headers": {"a": 1}})
    assert validate_runner_config("http", {"url": "https://n8n.example.com/webhook/x", "timeout": 5}) == {}


# --- http runner against a local server -----------------------------------------------------------

# /slow answers after this long: far past the runner's 0.5 s timeout, so that the bound in
# test_http_runner_timeout proves the runner gave up without being tight enough to flake.
SLOW_REPLY_SECONDS = 10


class Handler(http.server.BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        Handler.received.append((self.path, body, self.headers.get("Authorization")))
        routes = {
            "/ok-json": (200, "application/json", json.dumps({"output": f"scanned: {body['input']}"})),
            "/ok-n8n": (200, "application/json", json.dumps([{"output": "n8n says hi"}])),
            "/ok-text": (200, "text/plain; charset=utf-8", "plain report ✓"),
            "/500": (500, "text/plain", "internal secret stack trace"),
            "/malformed": (200, "application/json", "{not json"),
            "/no-output": (200, "application/json", json.dumps({"foo": "bar"})),
            "/empty": (200, "text/plain", ""),
            "/binary": (200, "application/octet-stream", "\x00\x01"),
            "/huge": (200, "text/plain", "x" * 1_100_000),
        }
        if self.path == "/slow":
            time.sleep(SLOW_REPLY_SECONDS)
            routes["/slow"] = (200, "text/plain", "too late")
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok-text")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, ctype, text = routes[self.path]
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def agent_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _allow_private(settings):
    # The test agent service listens on loopback, which the SSRF guard refuses by default
    # (tests/security/test_pentest_findings.py proves that).
    settings.AGENT_HTTP_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # The runner honours proxy variables; the local server must be reached directly.
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_http_runner_json_text_and_n8n_replies(agent_server):
    config = {"url": f"{agent_server}/ok-json", "timeout": 5, "headers": {"Authorization": "Bearer t0k"}}
    assert run_http("10.0.0.1 ünï", config) == "scanned: 10.0.0.1 ünï"
    assert Handler.received[-1] == ("/ok-json", {"input": "10.0.0.1 ünï"}, "Bearer t0k")
    assert run_http("x", {"url": f"{agent_server}/ok-n8n"}) == "n8n says hi"
    assert run_http("x", {"url": f"{agent_server}/ok-text"}) == "plain report ✓"


@pytest.mark.parametrize("path", ["/500", "/malformed", "/no-output", "/empty", "/binary", "/huge", "/redirect"])
def test_http_runner_failures_are_runner_errors(agent_server, path):
    with pytest.raises(RunnerError) as err:
        run_http("x", {"url": f"{agent_server}{path}", "timeout": 5})
    assert not isinstance(err.value, RunnerTimeout)
    assert "secret" not in err.value.user_message
    assert err.value.user_message == "The agent could not complete this run."


def test_http_runner_timeout(agent_server):
    start = time.monotonic()
    with pytest.raises(RunnerTimeout) as err:
        run_http("x", {"url": f"{agent_server}/slow", "timeout": 0.5})
    assert time.monotonic() - start < SLOW_REPLY_SECONDS - 2
    assert err.value.user_message == "The agent did not answer in time."


def test_http_runner_unreachable_and_misconfigured():
    with pytest.raises(RunnerError, match="http: cannot reach"):
        run_http("x", {"url": "http://127.0.0.1:9/", "timeout": 2})
    with pytest.raises(RunnerError) as err:
        run_http("x", {"url": "file:///etc/passwd"})
    assert err.value.user_message == "This agent is misconfigured."


def test_no_runner_module_reads_the_environment_for_secrets():
    # Config comes from the Agent row only; a runner never pulls credentials from os.environ.
    source = open(os.path.join(os.path.dirname(__file__), "..", "..", "agents", "runners.py")).read()
    assert "os.environ" not in source


def test_phishing_brand_in_path_of_a_foreign_host():
    report = phishing("http://192.0.2.1/paypal/login.php https://www.paypal.com/paypal/help", {})
    assert "The path mentions 'paypal' on a site paypal does not own" in report.split("[2]")[0]
    assert verdict_of(report, 1).startswith("HIGH RISK")
    assert "The path mentions" not in report.split("[2]")[1]
