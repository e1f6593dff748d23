from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet"

    def ready(self):
        from netcop_hub import pageconfig

        from . import checks  # noqa: F401 - registers the deploy checks
        from .money import AMOUNT_MESSAGE, MAX_AMOUNT, TOO_LARGE_MESSAGE

        # The one amount rule's messages and bound, for common.js's parseAmount.
        pageconfig.add(
            messages={"badAmount": AMOUNT_MESSAGE, "tooLarge": TOO_LARGE_MESSAGE},
            maxIntegerDigits=len(str(int(MAX_AMOUNT))),
        )
