"""Queued work of the wallet (Django's tasks framework via django-tasks; in Django 6 the import becomes
`from django.tasks import task`). Every task is safe to run twice: queues deliver at least once, and
anything a task does to money goes through wallet.services and its constraints.

Tasks a lower module enqueues are defined beside their body (emails.send_email,
services.billing.auto_recharge) so nothing imports upward; they are re-exported here under the
names queued before they moved, so rows already in a queue still find them (both task backends
find a task by its import path). Drop the re-exports once a deploy has drained the queues.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management import call_command
from django_tasks import task

from .emails import send_email
from .reconcile import reconcile_topups as reconcile
from .services import credits
from .services.billing import auto_recharge

__all__ = ["auto_recharge", "expire_credits", "prune_task_results", "reconcile_topups", "send_email"]

logger = logging.getLogger(__name__)


@task()
def reconcile_topups() -> str:
    """Periodic chore: settle, fail or cancel unfinished top-ups from Stripe (manage.py reconcile_topups)."""
    report = reconcile(older_than=settings.RECONCILE_OLDER_THAN, limit=500)
    for line in report.lines:
        logger.info("reconcile: %s", line)
    return report.summary()


@task()
def prune_task_results() -> str:
    """Periodic chore (database backend only): delete finished task rows older than 14 days."""
    if settings.TASKS_BACKEND != "db":
        return "not the database backend"
    call_command("prune_db_task_results", queue_name="*", min_age_days=14, verbosity=0)
    return "pruned"


@task()
def expire_credits() -> str:
    """Periodic chore (issue 23): expire credit lots past their expiry, warn 7 days ahead."""
    return credits.run_expiry_chore()
