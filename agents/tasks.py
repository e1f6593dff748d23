"""Queued work of the agents app (Django's tasks framework via django-tasks; in Django 6 the import
becomes `from django.tasks import task`). Every task is safe to run twice: queues deliver at least once.

The worker's task, execute_run, lives in agents.queue next to the code that enqueues it. It is
re-exported here under the path it was queued by before it moved (agents.tasks.execute_run): both
task backends find a queued task by its import path, so rows already in a queue still run. Drop the
re-export once a deploy has drained the queues."""

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from . import queue
from .queue import execute_run

__all__ = ["execute_run", "sweep_agent_runs"]


@task()
def sweep_agent_runs() -> str:
    """Periodic chore: refund runs stuck in the queue, retry once or refund runs whose worker died."""
    # Rows written "charged" before inline runs were recorded in one commit: such a row still
    # "charged" after AGENT_RUN_LOST_AFTER lost its process.
    stuck = queue.refund_stuck_runs(
        older_than=max(settings.AGENT_RUN_LOST_AFTER, timedelta(minutes=3))
    )
    report = queue.sweep_queued_runs()
    return f"{stuck} inline run(s) refunded, {report}"
