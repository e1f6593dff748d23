"""Queued work of the agents app (Django's tasks framework via django-tasks; in Django 6 the import
becomes `from django.tasks import task`). Every task is safe to run twice: queues deliver at least once."""

from django_tasks import task

from . import services


@task(queue_name="agents")
def execute_run(run_id: str) -> str:
    """Run one queued agent run (charged already); a second delivery finds it claimed and does nothing."""
    return services.execute_queued_run(run_id=run_id)


@task()
def sweep_agent_runs() -> str:
    """Periodic chore: refund runs stuck in the queue, retry once or refund runs whose worker died."""
    from datetime import timedelta

    from django.conf import settings

    # Inline runs take milliseconds: one still "charged" after AGENT_RUN_LOST_AFTER lost its process.
    stuck = services.refund_stuck_runs(
        older_than=max(settings.AGENT_RUN_LOST_AFTER, timedelta(minutes=3))
    )
    report = services.sweep_queued_runs()
    return f"{stuck} inline run(s) refunded, {report}"
