"""The migration that introduced credit lots: every balance becomes one paid lot, no ledger row changes."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("wallet", "0014_sentemail_send_claim")]
AFTER = [("wallet", "0017_opening_balance_lots")]


def test_existing_balances_become_paid_lots_and_the_ledger_is_untouched():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User, Tx = old.get_model("authentication", "User"), old.get_model("wallet", "WalletTransaction")
    rich = User.objects.create(email="rich@example.com", username="rich", wallet_balance=Decimal("12.34"))
    User.objects.create(email="empty@example.com", username="empty", wallet_balance=Decimal("0.00"))
    Tx.objects.create(user=rich, amount=Decimal("12.34"), type="adjustment", balance_after=Decimal("12.34"))
    before = list(Tx.objects.values_list("id", "amount", "balance_after", "type"))

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    lots = list(new.get_model("wallet", "CreditLot").objects.values_list("user_id", "kind", "amount", "remaining"))
    assert lots == [(rich.pk, "paid", Decimal("12.34"), Decimal("12.34"))]
    Tx = new.get_model("wallet", "WalletTransaction")
    assert list(Tx.objects.values_list("id", "amount", "balance_after", "type")) == before

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
