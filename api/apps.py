from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at module level: the kit is loaded with the settings (app loading).
        from netcop_hub import urlguard

        urlguard.answer_problems_under("/api/")
