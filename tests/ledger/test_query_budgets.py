"""Query budgets of the ledger's hot paths (issue 19): credit, debit, settle_topup.

Counts, not timings (timings stay in bench/). A change that adds a statement fails here with the list
of statements. What follows a balance change must cost nothing for a person with no low-balance
alert and no auto-recharge, and one indexed read for one with either.
"""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.helpers import assert_max_queries
from wallet import services
from wallet.models import BillingSettings, TopUp, TxType
from wallet.payments import Intent, IntentStatus

pytestmark = pytest.mark.django_db

# Statements per path on each database. SQLite reads the balance before writing it (NUMERIC is REAL
# there); PostgreSQL changes it in one UPDATE ... RETURNING. Savepoints count as statements.
# Credit lots (issue 23) cost PostgreSQL nothing (drawn or opened inside the ledger INSERT's
# statement); SQLite, without data-modifying CTEs, opens a lot with 2 INSERTs and draws with 3.
BUDGETS = {
    "sqlite": {"credit": 7, "debit": 8, "watched_debit": 9, "settle": 11},
    "postgresql": {"credit": 4, "debit": 4, "watched_debit": 5, "settle": 8},
}


def budget(path: str) -> int:
    return BUDGETS[connection.vendor][path]


def run_within(path: str, fn):
    with assert_max_queries(budget(path), path) as captured:
        result = fn()
    return result, [query["sql"] for query in captured]


def test_credit_budget(make_user):
    user = make_user(balance=Decimal("10.00"))
    entry, _ = run_within(
        "credit", lambda: services.credit(user=user, amount="5.00", type=TxType.ADJUSTMENT, description="t")
    )
    assert entry.balance_after == Decimal("15.00")


def test_debit_of_an_unwatched_balance_reads_no_billing_settings(make_user):
    user = make_user(balance=Decimal("10.00"))
    entry, statements = run_within(
        "debit", lambda: services.debit(user=user, amount="4.00", type=TxType.AGENT_USAGE, description="t")
    )
    assert entry.balance_after == Decimal("6.00")
    assert not any("billingsettings" in sql for sql in statements)


@pytest.mark.parametrize(
    "values",
    [
        {"low_balance_alert": Decimal("1.00")},
        {"auto_recharge_enabled": True, "auto_recharge_threshold": Decimal("1.00"),
         "auto_recharge_amount": Decimal("20.00"), "auto_recharge_payment_method": "pm_x"},
    ],
    ids=["alert", "auto_recharge"],
)
def test_debit_of_a_watched_balance_costs_one_read(make_user, values):
    user = make_user(balance=Decimal("10.00"))
    BillingSettings.objects.create(user=user, **values)
    assert get_user_model().objects.get(pk=user.pk).wallet_watched
    # Above the alert and the threshold: nothing to do but look.
    entry, statements = run_within(
        "watched_debit",
        lambda: services.debit(user=user, amount="4.00", type=TxType.AGENT_USAGE, description="t"),
    )
    assert entry.balance_after == Decimal("6.00")
    assert sum("billingsettings" in sql for sql in statements) == 1


def test_the_watch_flag_follows_the_settings(make_user):
    user = make_user()
    User = get_user_model()
    row = BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("5.00"))
    assert not User.objects.get(pk=user.pk).wallet_watched  # a spend limit alone watches nothing
    row.low_balance_alert = Decimal("3.00")
    row.save()
    assert User.objects.get(pk=user.pk).wallet_watched
    row.low_balance_alert = None
    row.save()
    assert not User.objects.get(pk=user.pk).wallet_watched
    # A stale User instance saved later must not roll the flag back.
    stale = User.objects.get(pk=user.pk)
    row.low_balance_alert = Decimal("3.00")
    row.save()
    stale.first_name = "Alice"
    stale.save()
    assert User.objects.get(pk=user.pk).wallet_watched


def test_settle_topup_budget(make_user):
    user = make_user(balance=Decimal("10.00"))
    topup = TopUp.objects.create(
        user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="budget",
        stripe_payment_intent_id="pi_budget",
    )
    intent = Intent(id="pi_budget", status=IntentStatus.SUCCEEDED, amount=2000, currency="aed",
                    amount_received=2000)
    result, _ = run_within("settle", lambda: services.settle_topup(intent=intent, user=user))
    assert result.credited_now and result.new_balance == Decimal("30.00")
    assert topup.pk == result.topup.pk
