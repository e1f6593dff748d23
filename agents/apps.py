from django.apps import AppConfig


def _agent_page(kwargs):
    """The wallet's "back to the agent" link: an active agent's page named by `?next=`."""
    from django.urls import reverse  # lazy, like the models: apps.py loads before they are ready

    from wallet.return_targets import ReturnTarget

    from .models import Agent

    agent = Agent.objects.filter(slug=kwargs.get("slug"), is_active=True).first()
    if agent is None:
        return None
    return ReturnTarget(name=agent.name, price=agent.price, url=reverse("agents:detail", args=[agent.slug]))


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self):
        # Imported here, not at module level: models must be loaded first (Django's app loading).
        from netcop_hub import pageconfig
        from wallet import return_targets
        from wallet.scheduler import register_chore

        from .exceptions import TOO_LONG
        from .tasks import sweep_agent_runs

        register_chore(name="sweep_agent_runs", task=sweep_agent_runs, setting="SCHEDULE_SWEEP_AGENT_RUNS")
        return_targets.register("agents:detail", _agent_page)
        # The over-the-limit message, for agents.js to say before posting.
        pageconfig.add(messages={"tooLong": TOO_LONG})
