"""Create the built-in agents and a demo user (idempotent; `make run` calls it on every start)."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from agents.models import Agent
from authentication import verification
from wallet.money import format_money

DEMO_EMAIL = "demo@netcop.local"
# Public on purpose: the local demo account (scripts/run.sh). Never run seed_demo in production.
DEMO_PASSWORD = "netcop-demo-123"  # nosec B105

BUILTIN_AGENTS = [
    {
        "slug": "phishing-url-checker",
        "name": "Phishing URL checker",
        "runner": "phishing_url",
        "price": Decimal("2.00"),
        "sort_order": 10,
        "input_label": "URLs to check (one or more)",
        "input_placeholder": "https://paypa1-secure-login.xyz/verify",
        "description": (
            "Paste links from a suspicious message. Each URL is scored on offline heuristics: bare "
            "or obfuscated IP hosts, punycode and mixed-script homographs, brand look-alikes and "
            "typosquats, abused top-level domains, '@' tricks, shorteners and credential-bait paths."
        ),
    },
    {
        "slug": "email-header-analyzer",
        "name": "Email header analyser",
        "runner": "email_headers",
        "price": Decimal("3.00"),
        "sort_order": 20,
        "input_label": "Raw email headers",
        "input_placeholder": "Received: from mail.example.com ...\nFrom: ...",
        "description": (
            "Paste a message's raw headers (\"Show original\"). Traces the delivery route hop by hop, "
            "reads SPF, DKIM and DMARC results and checks From against Return-Path, Reply-To and the "
            "DKIM signer to spot spoofing."
        ),
    },
    {
        "slug": "password-strength-auditor",
        "name": "Password strength auditor",
        "runner": "password_audit",
        "price": Decimal("1.00"),
        "sort_order": 30,
        "input_label": "Passwords (one per line, up to 10)",
        "input_placeholder": "correct horse battery staple",
        "description": (
            "Estimates how long each password would resist guessing with zxcvbn, explains the "
            "patterns that weaken it and checks it against a 12-character policy. The password is "
            "never stored or repeated in the report."
        ),
    },
    {
        "slug": "log-triage",
        "name": "Access log triage",
        "runner": "log_triage",
        "price": Decimal("5.00"),
        "sort_order": 40,
        "input_label": "Access log lines (Common or Combined Log Format)",
        "input_placeholder": (
            '203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET /wp-login.php HTTP/1.1" 404 153'
        ),
        "description": (
            "Paste web server access log lines. Summarises status codes, top client IPs and paths, "
            "finds per-minute bursts, brute-force patterns, scanners and attack probes (traversal, "
            "SQL injection, XSS) and recommends what to block."
        ),
    },
]


class Command(BaseCommand):
    help = "Create or update the built-in agents and create the demo user if absent."

    @transaction.atomic
    def handle(self, *args, **options):
        for spec in BUILTIN_AGENTS:
            spec = dict(spec)
            slug = spec.pop("slug")
            # Text and runner follow the code; price, active flag and order stay as ops set them.
            create_only = {k: spec.pop(k) for k in ("price", "sort_order")}
            create_only.update(is_active=True, config={})
            agent, created = Agent.objects.update_or_create(
                slug=slug, defaults=spec, create_defaults={**spec, **create_only}
            )
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} agent {agent.name} ({format_money(agent.price)})")
        User = get_user_model()
        if not User.objects.filter(email__iexact=DEMO_EMAIL).exists():
            User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD, username="Demo user")
            self.stdout.write(f"Created demo user {DEMO_EMAIL}")
        # Its address is confirmed, so `make run` tops up out of the box (TOPUP_REQUIRE_VERIFIED_EMAIL).
        verification.mark_verified(user=User.objects.get(email__iexact=DEMO_EMAIL))
        self.stdout.write(self.style.SUCCESS(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}"))
