"""{{ run|report }}: what a run shows, as a verdict and blocks (agents/reports.py)."""

from django import template

from agents.reports import Report

register = template.Library()


@register.filter
def report(run) -> Report:
    return Report.of_run(run)
