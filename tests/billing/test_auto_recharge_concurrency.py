"""Issue 14 under concurrency (SQLite and PostgreSQL): twenty runs crossing the threshold make one
recharge (real task worker, localstripe), the spend limit never overshoots, one alert per crossing."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from agents.models import Agent, AgentRun
from tests.concurrency import run_concurrently
from tests.workers import wait_for
from wallet import payments, services
from wallet.emails import LOW_BALANCE
from wallet.models import BillingSettings, SentEmail, TopUp, TxType, WalletTransaction
from wallet.services import billing

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://paypa1.com/login"


@pytest.fixture
def agent(db):
    return Agent.objects.create(
        name="Phishing URL checker", slug="phish", description="", price=Decimal("3.00"), runner="phishing_url"
    )


def clients_for(user, n):
    out = []
    for _ in range(n):
        c = Client()
        c.force_login(user)
        out.append(c)
    return out


def use(client, slug):
    body = json.dumps({"input": URL, "request_id": str(uuid.uuid4())})
    return client.post(f"/agents/{slug}/use/", body, content_type="application/json")


def ledger_total(user) -> Decimal:
    total = WalletTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"]
    return Decimal(total).quantize(Decimal("0.01"))


def test_twenty_runs_crossing_the_threshold_make_one_recharge(make_user, agent, stripe_sandbox, task_workers):
    task_workers("db", env={
        "STRIPE_SANDBOX": "True", "STRIPE_API_BASE": stripe_sandbox.url,
        "STRIPE_SECRET_KEY": stripe_sandbox.key, "STRIPE_MAX_NETWORK_RETRIES": "0",
    })
    user = make_user()
    services.start_topup(user=user, amount="100.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key="first", save_card=True)
    billing.save_settings(user=user, values={
        "auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("50.00"),
        "auto_recharge_amount": Decimal("100.00"), "auto_recharge_monthly_limit": None,
        "low_balance_alert": None, "monthly_spend_limit": None,
    })
    clients = clients_for(user, 20)
    results = run_concurrently(lambda i: use(clients[i], agent.slug), 20)
    assert [r.status_code for r in results] == [200] * 20, results
    wait_for(lambda: TopUp.objects.filter(is_automatic=True, status=TopUp.Status.SUCCEEDED).exists(), 60,
             "the automatic top-up")
    from django_tasks_db.models import DBTaskResult

    wait_for(lambda: not DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists(), 60,
             "every queued task to finish")
    autos = TopUp.objects.filter(is_automatic=True)
    assert autos.count() == 1 and autos.get().amount == Decimal("100.00")
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("140.00") == ledger_total(user)  # 100 - 20 x 3 + 100
    call_command("check_ledger")


def test_spend_limit_with_twenty_parallel_runs_never_overshoots(make_user, agent):
    user = make_user(balance=Decimal("500.00"))
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("10.00"))
    clients = clients_for(user, 20)
    results = run_concurrently(lambda i: use(clients[i], agent.slug), 20)
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 3 + [402] * 17, codes  # 3 x 3.00 = 9.00; a fourth would be 12.00
    refused = [r.json() for r in results if r.status_code == 402]
    assert all(b["code"] == "spend_limit" and b["limit"] == "10.00" for b in refused)
    assert {b["spent"] for b in refused} <= {"9.00", "6.00", "3.00", "0.00"}
    assert "error" in refused[0]
    assert AgentRun.objects.filter(user=user).count() == 3
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("491.00") == ledger_total(user)
    call_command("check_ledger")


def test_a_burst_of_debits_crossing_the_alert_sends_one_email(make_user):
    user = make_user(balance=Decimal("100.00"))
    BillingSettings.objects.create(user=user, low_balance_alert=Decimal("50.00"))
    run_concurrently(
        lambda i: services.debit(user=user, amount="4.00", type=TxType.AGENT_USAGE, description="burst"), 20
    )
    assert SentEmail.objects.filter(key__startswith=f"{LOW_BALANCE}:").count() == 1
    assert BillingSettings.objects.get(pk=user.pk).low_balance_alerted
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("20.00")
    call_command("check_ledger")


def test_two_workers_delivering_the_recharge_twice_make_one_attempt_on_a_failing_card(
    make_user, stripe_sandbox, task_workers
):
    """Issue 18, item 12: the TopUp was marked failed (freeing the in-flight slot) in one transaction
    and the back-off recorded in a later one; a second delivery in between charged the card again and
    the count jumped by 2. Two real workers, the task delivered twice at once, a few rounds."""
    user = make_user()
    services.start_topup(user=user, amount="60.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key="first", save_card=True)
    billing.save_settings(user=user, values={
        "auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("50.00"),
        "auto_recharge_amount": Decimal("100.00"), "auto_recharge_monthly_limit": None,
        "low_balance_alert": None, "monthly_spend_limit": None,
    })
    declined = stripe_sandbox.card("4000000000000341")
    payments.attach_payment_method(payment_method=declined,
                                   customer=BillingSettings.objects.get(pk=user.pk).stripe_customer_id)
    billing.remember_card(user_id=user.pk, payment_method=declined)
    billing.use_card(user=user, payment_method=declined)  # a new card is never chosen on its own
    services.debit(user=user, amount="20.00", type=TxType.ADJUSTMENT, description="below the threshold")
    env = {
        "STRIPE_SANDBOX": "True", "STRIPE_API_BASE": stripe_sandbox.url, "STRIPE_SECRET_KEY": stripe_sandbox.key,
        "STRIPE_MAX_NETWORK_RETRIES": "0", "AUTO_RECHARGE_MAX_FAILURES": "50",
    }
    task_workers("db", env=env)
    task_workers("db", env=env)
    from django_tasks_db.models import DBTaskResult

    # Two deliveries at once, then (a burst of debits enqueues several) a stream of them landing
    # while the first charge is declined: none may slip in between the failure and its back-off.
    for round_, (deliveries, spacing) in enumerate([(2, 0), (2, 0), (24, 0.004), (24, 0.004), (24, 0.004)]):
        BillingSettings.objects.filter(pk=user.pk).update(auto_recharge_retry_after=None, auto_recharge_paused_at=None)
        before = TopUp.objects.filter(is_automatic=True).count()
        failures = BillingSettings.objects.get(pk=user.pk).auto_recharge_failures

        def deliver(i, spacing=spacing):
            time.sleep(i // 2 * spacing)
            return billing.auto_recharge.enqueue(user.pk)

        run_concurrently(deliver, deliveries)
        wait_for(lambda: not DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists(), 60,
                 "both deliveries to finish")
        assert TopUp.objects.filter(is_automatic=True).count() == before + 1, f"round {round_}"
        row = BillingSettings.objects.get(pk=user.pk)
        assert row.auto_recharge_failures == failures + 1, f"round {round_}"
        assert row.auto_recharge_retry_after is not None
    assert not TopUp.objects.filter(is_automatic=True, status__in=billing.IN_FLIGHT).exists()
    call_command("check_ledger")
