from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self):
        from netcop_hub import pageconfig

        from .exceptions import TOO_LONG

        # The over-the-limit message, for agents.js to say before posting.
        pageconfig.add(messages={"tooLong": TOO_LONG})
