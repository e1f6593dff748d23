"""Settings read the environment: empty values mean "unset", and production refuses a dev key."""

import os
import subprocess
import sys

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

    example = pathlib.Path(__file__).resolve().parent.parent / ".env.example"
    env = {}
    for line in example.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value
    assert {"SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY", "TOPUP_RATE_LIMIT", "AXES_FAILURE_LIMIT"} <= set(env)
    out = probe(**env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|") == ["True", "http://127.0.0.1:8420", "2.00", "10000.00", "AED"]
