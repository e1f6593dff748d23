"""Names stored before the display-name validator (0003) still reached receipts and the admin as they
were: each one the validator refuses is replaced by the name derived from the email address."""

from django.core.exceptions import ValidationError
from django.db import migrations

from authentication.validators import default_display_name, validate_display_name


def clean_display_names(apps, schema_editor):
    User = apps.get_model("authentication", "User")
    for user in User.objects.only("pk", "email", "username").iterator(chunk_size=2000):
        try:
            validate_display_name(user.username)
        except ValidationError:
            User.objects.filter(pk=user.pk).update(username=default_display_name(user.email))


class Migration(migrations.Migration):
    dependencies = [
        ("authentication", "0003_display_name_validator"),
    ]

    operations = [
        migrations.RunPython(clean_display_names, migrations.RunPython.noop),
    ]
