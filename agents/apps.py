from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self):
        # Imported here, not at module level: models must be loaded first (Django's app loading).
        from netcop_hub import pageconfig
        from wallet import return_targets
        from wallet.scheduler import register_chore

        from .exceptions import TOO_LONG
        from .services import agent_return_target
        from .tasks import sweep_agent_runs

        register_chore(name="sweep_agent_runs", task=sweep_agent_runs, setting="SCHEDULE_SWEEP_AGENT_RUNS")
        return_targets.register("agents:detail", agent_return_target)
        # The over-the-limit message, for agents.js to say before posting.
        pageconfig.add(messages={"tooLong": TOO_LONG})
