"""Issue 21's row: an API agent run against an API no-op with the same key authentication.

Both endpoints authenticate the same key the same way (keyed-hash look-up, hold and rate checks);
the difference is the paid run itself: `POST /api/v1/agents/<slug>/runs` (no Idempotency-Key, so
every request is a new run, as the page's row) against `GET /api/v1/ping`.
"""

from __future__ import annotations

import json
from decimal import Decimal

from wrk_load import wrk


def bench_api_agent_vs_noop(base: str, env: dict, seconds: int, *, django_shell, manage, balance_of,
                            succeeded_runs, email: str) -> dict:
    slug, price, secret = json.loads(
        django_shell(
            env,
            "import json; from agents.models import Agent; from authentication.models import User; "
            "from authentication import api_keys; "
            "a = Agent.objects.filter(is_active=True, runner='phishing_url').first(); "
            f"k, s = api_keys.create_key(user=User.objects.get(email='{email}'), name='bench', "
            "scopes=['agents:run', 'wallet:read']); "
            "print(json.dumps([a.slug, str(a.price), s]))",
        ).strip().splitlines()[-1]
    )
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = json.dumps({"input": "http://paypa1-secure-login.example.xyz/verify"})
    before, runs_before = balance_of(env), succeeded_runs(env)
    noop = wrk(base + "/api/v1/ping", headers, 8, seconds)
    use = wrk(base + f"/api/v1/agents/{slug}/runs", headers, 8, seconds, method="POST", body=body)
    runs = succeeded_runs(env) - runs_before
    after = balance_of(env)
    expected = before - Decimal(price) * runs
    ledger = manage(env, "check_ledger").strip().splitlines()[-1]
    return {
        "agent": slug,
        "noop": noop,
        "agent_run": use,
        "ratio": use["ok_rps"] / noop["ok_rps"] if noop["ok_rps"] else 0.0,
        "integrity": {"successful_runs": runs, "balance_ok": after == expected, "check_ledger": ledger,
                      "balance_after": str(after), "expected_after": str(expected)},
    }


def rows(report, data: dict) -> None:
    use, noop, check = data["agent_run"], data["noop"], data["integrity"]
    report.row(
        "21", "API agent run vs API no-op (`/api/v1/ping`), same key authentication, 8 clients", "ratio >= 0.6",
        f"{data['ratio']:.2f} ({use['ok_rps']:.0f} vs {noop['ok_rps']:.0f} req/s; run p50 {use['p50_ms']:.0f} ms, "
        f"p99 {use['p99_ms']:.0f} ms); {check['successful_runs']:,} runs, balance "
        f"{'reconciles' if check['balance_ok'] else 'DOES NOT reconcile'}; {check['check_ledger']}",
        data["ratio"] >= 0.6 and check["balance_ok"] and check["check_ledger"].startswith("Ledger OK"),
    )
