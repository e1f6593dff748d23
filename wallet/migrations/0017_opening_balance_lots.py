"""Every balance that existed before credit lots becomes one paid lot of the same amount.

No ledger row is written or changed: the lot is the balance as it stands (all of it was paid money
or staff corrections of it). Reversible: the lots (which have no allocations yet) are removed.
"""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    User = apps.get_model("authentication", "User")
    CreditLot = apps.get_model("wallet", "CreditLot")
    now = timezone.now()
    batch = []
    for user_id, balance in (
        User.objects.filter(wallet_balance__gt=0).values_list("pk", "wallet_balance").iterator()
    ):
        batch.append(
            CreditLot(
                user_id=user_id,
                kind="paid",
                source="opening_balance",
                amount=balance,
                remaining=balance,
                created_at=now,
            )
        )
        if len(batch) >= 1000:
            CreditLot.objects.bulk_create(batch)
            batch = []
    CreditLot.objects.bulk_create(batch)


def backwards(apps, schema_editor):
    apps.get_model("wallet", "CreditLot").objects.filter(source="opening_balance").delete()


class Migration(migrations.Migration):
    dependencies = [("wallet", "0016_credit_lots")]
    operations = [migrations.RunPython(forwards, backwards)]
