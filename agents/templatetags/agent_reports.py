"""{{ run|report }}: a run's output as a verdict and blocks (agents/reports.py)."""

from django import template

from agents.reports import Report, present

register = template.Library()


@register.filter
def report(run) -> Report:
    return present(runner=run.agent.runner, output=run.output if run.is_succeeded else "")
