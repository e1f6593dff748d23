"""Queued work of the wallet (Django's tasks framework via django-tasks; in Django 6 the import becomes
`from django.tasks import task`). Every task is safe to run twice: queues deliver at least once, and
anything a task does to money goes through wallet.services and its constraints."""

from __future__ import annotations

import logging

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def reconcile_topups() -> str:
    """Periodic chore: settle, fail or cancel unfinished top-ups from Stripe (manage.py reconcile_topups)."""
    from django.conf import settings

    from .reconcile import parse_duration
    from .reconcile import reconcile_topups as reconcile

    report = reconcile(older_than=parse_duration(settings.RECONCILE_OLDER_THAN), limit=500)
    for line in report.lines:
        logger.info("reconcile: %s", line)
    return report.summary()
