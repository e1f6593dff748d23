"""Issue 18, the built-in runners: the header analyser's crash on a malformed encoded word (item 16),
a fuzz test over every built-in runner's input, and log-triage percentages that add up to 100."""

import io
import re

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agents.compute import compute
from agents.exceptions import InvalidAgentInput, RunnerError
from agents.models import Agent
from agents.runners import REGISTRY

BUILT_INS = sorted(key for key, spec in REGISTRY.items() if not spec.queued)
FUZZ = hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Fragments a runner's parser reacts to, so that the fuzzer reaches past "nothing recognised".
HEADER_NAMES = st.sampled_from(["From", "To", "Subject", "Received", "Return-Path", "Reply-To", "Sender",
                                "Authentication-Results", "DKIM-Signature", "Date", "Message-ID"])
ENCODED_WORDS = st.builds(
    lambda charset, enc, text: f"=?{charset}?{enc}?{text}?=",
    st.sampled_from(["", "utf-8", "b", "x-unknown", "iso-8859-1", "utf-8*en"]),
    st.sampled_from(["", "b", "q", "B", "Q", "x"]),
    st.text(alphabet="=?_ABCabc+/0123456789%\n", max_size=12),
)
HEADER_VALUES = st.one_of(st.text(max_size=40), ENCODED_WORDS,
                          st.lists(ENCODED_WORDS, max_size=3).map(" ".join))
HEADER_BLOCKS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES).map(": ".join), min_size=1, max_size=6).map(
    "\n".join
)
LOG_LINES = st.builds(
    lambda ip, time, request, status, size: f'{ip} - - [{time}] "{request}" {status} {size}',
    st.sampled_from(["203.0.113.9", "::1", "x", "999.1.1.1", ""]),
    st.sampled_from(["10/Oct/2024:13:55:36 +0000", "32/Foo/2024:99:99:99 +9999", ""]),
    st.text(max_size=30),
    st.integers(min_value=0, max_value=999).map("{:03d}".format),
    st.sampled_from(["512", "-", "x"]),
).map(str)
INPUTS = st.one_of(st.text(max_size=300), HEADER_BLOCKS, st.lists(LOG_LINES, max_size=8).map("\n".join),
                   st.lists(st.from_regex(r"https?://[^\s]{0,40}", fullmatch=True), max_size=4).map("\n".join))


def run_builtin(key: str, text: str):
    """What agents.services does with an input: validate it (before the charge), then run it."""
    spec = REGISTRY[key]
    if spec.validate_input is not None:
        text = spec.validate_input(text)
    return spec(text, {})


def test_header_analyser_reads_a_malformed_encoded_word():
    # Raised HeaderParseError out of _decoded: the run failed with an internal error.
    report = run_builtin("email_headers", "From: =??b?b?=\nTo: a@example.org\n").text
    assert "=??b?b?=" in report


@pytest.mark.parametrize("key", BUILT_INS)
@FUZZ
@given(text=INPUTS)
@example(text="From: =??b?b?=")
@example(text="Subject: =?utf-8?q?=\nReply-To: =??b?b?=, =?x?b?A?=")
def test_no_builtin_runner_raises_on_any_input(key, text):
    """Only the runner's own input errors escape: InvalidAgentInput before the charge, RunnerError after
    (both carry a message we wrote). Anything else is an internal error on the customer's paid run."""
    try:
        run_builtin(key, text)
    except (InvalidAgentInput, RunnerError) as error:
        assert error.user_message


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("key", BUILT_INS)
@FUZZ
@given(text=INPUTS)
# A quoted backslash followed by "u0000" once broke the cleaning of the report's JSON text (a 500).
@example(text="http://a.example/\\u0000")
@example(text="From: x\\u0000y <a@example.org>\nSubject: \\u0000")
@example(text='203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /\\u0000 HTTP/1.1" 200 5')
@example(text="http://a.example/\x00\ud800")
def test_every_builtin_answer_is_storable(key, text):
    """compute() (the one place a runner is called) hands back a report PostgreSQL's jsonb takes: no
    NUL, no lone surrogate, in any string of it; it never raises, whatever the input."""
    spec = REGISTRY[key]
    try:
        if spec.validate_input is not None:
            text = spec.validate_input(text)
    except InvalidAgentInput:
        return
    computed = compute(agent=Agent(slug=key, runner=key, config={}), input_text=text)
    assert computed.ok or computed.error
    for string in _strings(computed.report or {}):
        assert "\x00" not in string
        string.encode("utf-8")  # no lone surrogate
    assert "\x00" not in computed.output


def log_line(ip: str, status: int, second: int = 0) -> str:
    return f'{ip} - - [10/Oct/2024:13:55:{second:02d} +0000] "GET / HTTP/1.1" {status} 512 "-" "Mozilla/5.0"'


@pytest.mark.parametrize("statuses", [(200, 404, 500), (200,) * 4 + (301,) * 4 + (404,) * 4,
                                      (200, 200, 302, 302, 302, 404, 404)])
def test_log_triage_status_percentages_add_up_to_100(statuses):
    # Three equal classes read 33% + 33% + 33% = 99% (each share floored on its own).
    log = "\n".join(log_line("198.51.100.2", status, second) for second, status in enumerate(statuses))
    report = run_builtin("log_triage", log).text
    status_line = report.split("Status codes\n", 1)[1].split("\n", 1)[0]
    shares = [int(share) for share in re.findall(r"\((\d+)%\)", status_line)]
    assert len(shares) == len({status // 100 for status in statuses})
    assert sum(shares) == 100


@pytest.mark.django_db
def test_the_ui_spells_analyser_one_way():
    # The seeded agent read "Email header analyzer" while its runner, the home page and the README say
    # "analyser". (The slug stays: it is in links people have saved.)
    call_command("seed_demo", stdout=io.StringIO())
    texts = [text for agent in Agent.objects.all() for text in (agent.name, agent.description)]
    texts += [spec.label for spec in REGISTRY.values()]
    assert "Email header analyser" in texts
    assert not [text for text in texts if "analyz" in text.lower()]
