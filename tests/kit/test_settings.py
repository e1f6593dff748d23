"""Settings read the environment: empty values mean "unset", production refuses a dev key, and every
duration, amount, count and rate limit is parsed once at start-up (a bad value stops Django)."""

import os
import pathlib
import subprocess
import sys
from datetime import timedelta

import pytest

from netcop_hub.config import Rate, parse_rate
from netcop_hub.durations import parse_duration

PROBE = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netcop_hub.settings'); django.setup(); "
    "from django.conf import settings as s; "
    "print(s.STRIPE_SANDBOX, s.STRIPE_API_BASE, s.TOPUP_MIN_AMOUNT, s.TOPUP_MAX_AMOUNT, s.WALLET_CURRENCY, sep='|')"
)


def probe(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "LOCALSTRIPE_", "TOPUP_"))}
    full.update(env)
    return subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=60)


def test_empty_values_copied_from_env_example_keep_sandbox_defaults():
    out = probe(STRIPE_SANDBOX="", STRIPE_SECRET_KEY="", STRIPE_API_BASE="", LOCALSTRIPE_URL="",
                TOPUP_MIN_AMOUNT="", TOPUP_MAX_AMOUNT="", WALLET_CURRENCY="")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|") == ["True", "http://127.0.0.1:8420", "2.00", "10000.00", "AED"]


def test_real_keys_turn_sandbox_off():
    out = probe(STRIPE_SECRET_KEY="sk_test_real", STRIPE_PUBLISHABLE_KEY="pk_test_real")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|")[:2] == ["False", ""]


def test_production_refuses_a_development_secret_key():
    out = probe(DEBUG="False", SECRET_KEY="django-insecure-short")
    assert out.returncode != 0 and "development key" in out.stderr


def test_every_value_of_env_example_loads():
    """Copying .env.example to .env must give a working development configuration."""
    import pathlib

    example = pathlib.Path(__file__).resolve().parents[2] / ".env.example"
    env = {}
    for line in example.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value
    assert {"SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY", "TOPUP_RATE_LIMIT", "AXES_FAILURE_LIMIT"} <= set(env)
    out = probe(**env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|") == ["True", "http://127.0.0.1:8420", "2.00", "10000.00", "AED"]


# --- durations, amounts, counts and rate limits: parsed once, at start-up --------------------------

TYPED = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'netcop_hub.settings'); django.setup(); "
    "from django.conf import settings as s; "
    "print(repr(s.AGENT_RUN_LOST_AFTER), repr(s.SCHEDULE_SWEEP_AGENT_RUNS), repr(s.WALLET_MAX_BALANCE), "
    "repr(s.TOPUP_RATE_LIMIT), repr(s.LOGIN_RATE_LIMIT), s.EMAIL_MAX_ATTEMPTS, sep='|')"
)


def test_settings_are_typed_values():
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_AFTER", "_RATE_LIMIT", "_RUNS"))}
    env.update(AGENT_RUN_LOST_AFTER="90s", SCHEDULE_SWEEP_AGENT_RUNS="off", WALLET_MAX_BALANCE="500",
               TOPUP_RATE_LIMIT="3/10m", LOGIN_RATE_LIMIT="off", EMAIL_MAX_ATTEMPTS="4")
    out = subprocess.run([sys.executable, "-c", TYPED], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|") == [
        "datetime.timedelta(seconds=90)", "None", "Decimal('500.00')", "Rate(count=3, seconds=600)", "None", "4"
    ]


@pytest.mark.parametrize(
    ("name", "value", "example"),
    [
        ("AGENT_RUN_LOST_AFTER", "5 minutes", "e.g. 30s, 15m, 1h or 1d."),
        ("AUTO_RECHARGE_BACKOFF", "off", "e.g. 30s, 15m, 1h or 1d."),  # cannot be switched off
        ("SCHEDULE_RECONCILE_TOPUPS", "often", 'e.g. 30s, 15m, 1h or 1d, or "off".'),
        ("TOPUP_MAX_AMOUNT", "lots", "e.g. 100 or 2.50."),
        ("WALLET_MAX_BALANCE", "1e9", "e.g. 100 or 2.50."),
        ("TOPUP_MIN_AMOUNT", "0.001", "e.g. 100 or 2.50."),
        ("EMAIL_MAX_ATTEMPTS", "-1", "at least 1, e.g. 6."),
        ("TOPUP_RATE_LIMIT", "ten a minute", "e.g. 10/10m, 5/1h or 100/30s"),
    ],
)
def test_a_bad_value_stops_django_naming_the_variable_with_an_example(name, value, example):
    out = probe(**{name: value})
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr
    assert f"{name}={value!r} is not valid" in out.stderr and example in out.stderr


def test_a_minimum_above_the_maximum_is_refused():
    out = probe(TOPUP_MIN_AMOUNT="500", TOPUP_MAX_AMOUNT="100")
    assert out.returncode != 0 and "TOPUP_MIN_AMOUNT (500.00) is above TOPUP_MAX_AMOUNT (100.00)" in out.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("2m", timedelta(minutes=2)), ("1h", timedelta(hours=1)),
     ("1d", timedelta(days=1)), ("45", timedelta(seconds=45)), (" 24H ", timedelta(hours=24))],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2 weeks", "-1m", "1.5h", "m"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="Not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, rate", [("10/10m", Rate(10, 600)), ("5/h", Rate(5, 3600)), ("100/30s", Rate(100, 30)),
                   ("1/1d", Rate(1, 86400)), ("off", None), ("", None), ("0", None)],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("bad", ["ten/10m", "10/10x", "10", "/m", "0/1m", "5/0m"])
def test_parse_rate_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="Bad rate limit"):
        parse_rate(bad)


def test_no_duration_or_rate_is_parsed_at_use_time():
    """The one parser is the kit's, used by settings.py (and a command's own option), nowhere else."""
    root = pathlib.Path(__file__).resolve().parents[2]
    allowed = {
        "netcop_hub/config.py", "netcop_hub/durations.py", "netcop_hub/settings.py",
        "wallet/management/commands/reconcile_topups.py",
    }
    for app in ("netcop_hub", "authentication", "wallet", "agents"):
        for path in (root / app).rglob("*.py"):
            rel = path.relative_to(root).as_posix()
            text = path.read_text()
            if rel not in allowed:
                assert "parse_duration(" not in text and "parse_rate(" not in text, rel
