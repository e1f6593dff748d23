from django.db import migrations, models


def verify_existing(apps, schema_editor):
    """Accounts that existed before verification was required keep topping up: they are trusted as
    they were (new sign-ups confirm their address)."""
    User = apps.get_model("authentication", "User")
    User.objects.filter(email_verified_at__isnull=True).update(email_verified_at=models.F("date_joined"))


class Migration(migrations.Migration):
    dependencies = [("authentication", "0006_user_hold")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="email confirmed"),
        ),
        migrations.RunPython(verify_existing, migrations.RunPython.noop),
    ]
