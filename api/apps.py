from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported here, not at module level: models must be loaded first (Django's app loading), and
        # the receivers are connected once, when the app is ready.
        from agents.signals import run_finished
        from netcop_hub import urlguard
        from wallet.scheduler import register_chore
        from wallet.signals import low_balance, topup_settled

        from . import receivers
        from .webhooks import retry_webhooks

        urlguard.answer_problems_under("/api/")
        run_finished.connect(receivers.on_run_finished, dispatch_uid="api.webhooks.run_finished")
        topup_settled.connect(receivers.on_topup_settled, dispatch_uid="api.webhooks.topup_settled")
        low_balance.connect(receivers.on_low_balance, dispatch_uid="api.webhooks.low_balance")
        register_chore(name="retry_webhooks", task=retry_webhooks, setting="SCHEDULE_RETRY_WEBHOOKS")
