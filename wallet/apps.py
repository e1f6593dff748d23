from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet"

    def ready(self):
        # Imported here, not at module level: models must be loaded first (Django's app loading).
        from authentication import signals as account_signals
        from authentication.models import install_ledger_door
        from netcop_hub import pageconfig

        from . import (
            checks,  # noqa: F401 - registers the deploy checks
            emails,
        )
        from .money import AMOUNT_MESSAGE, MAX_AMOUNT, TOO_LARGE_MESSAGE
        from .scheduler import register_chore
        from .services import billing, doors
        from .signals import balance_changed
        from .tasks import expire_credits, prune_task_results, reconcile_topups

        # What follows a balance change is wired from above the ledger (issue 17): the low-balance
        # alert and the auto-recharge trigger listen to the ledger's signal.
        balance_changed.connect(billing.on_balance_changed, dispatch_uid="wallet.billing.on_balance_changed")
        # The seed's User balance methods go through the ledger; accounts cannot import it (layers).
        install_ledger_door(doors)
        # "Your password was changed" goes out through the wallet's email task (retried, sent once).
        account_signals.password_changed.connect(
            emails.on_password_changed, dispatch_uid="wallet.emails.on_password_changed"
        )
        # Issue 20: the email-verification link goes out the same way.
        account_signals.verification_requested.connect(
            emails.on_verification_requested, dispatch_uid="wallet.emails.on_verification_requested"
        )
        register_chore(name="reconcile_topups", task=reconcile_topups, setting="SCHEDULE_RECONCILE_TOPUPS")
        register_chore(
            name="prune_task_results", task=prune_task_results, setting="SCHEDULE_PRUNE_TASK_RESULTS"
        )
        # Issue 23: credit lots past their expiry become `expiry` rows; warnings 7 days ahead.
        register_chore(name="expire_credits", task=expire_credits, setting="SCHEDULE_EXPIRE_CREDITS")
        # The one amount rule's messages and bound, for common.js's parseAmount.
        pageconfig.add(
            messages={"badAmount": AMOUNT_MESSAGE, "tooLarge": TOO_LARGE_MESSAGE},
            maxIntegerDigits=len(str(int(MAX_AMOUNT))),
        )
