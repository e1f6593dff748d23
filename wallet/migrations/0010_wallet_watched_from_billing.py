"""Fill User.wallet_watched from the billing settings that exist (issue 19: the ledger reads the flag)."""

from django.db import migrations
from django.db.models import Q


def forwards(apps, schema_editor):
    BillingSettings = apps.get_model("wallet", "BillingSettings")
    User = apps.get_model("authentication", "User")
    watching = BillingSettings.objects.filter(
        Q(low_balance_alert__isnull=False) | Q(auto_recharge_enabled=True, auto_recharge_paused_at__isnull=True)
    ).values("user_id")
    User.objects.filter(pk__in=watching).update(wallet_watched=True)


class Migration(migrations.Migration):

    dependencies = [
        ("authentication", "0005_user_wallet_watched"),
        ("wallet", "0009_topup_user_unsettled_idx"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
