"""Queued work of the wallet (Django's tasks framework via django-tasks; in Django 6 the import becomes
`from django.tasks import task`). Every task is safe to run twice: queues deliver at least once, and
anything a task does to money goes through wallet.services and its constraints."""

from __future__ import annotations

import logging

from django_tasks import task
from django_tasks.exceptions import InvalidTaskError

logger = logging.getLogger(__name__)


@task()
def reconcile_topups() -> str:
    """Periodic chore: settle, fail or cancel unfinished top-ups from Stripe (manage.py reconcile_topups)."""
    from django.conf import settings

    from .reconcile import reconcile_topups as reconcile

    report = reconcile(older_than=settings.RECONCILE_OLDER_THAN, limit=500)
    for line in report.lines:
        logger.info("reconcile: %s", line)
    return report.summary()


@task()
def send_email(kind: str, object_id: str, attempt: int = 1) -> str:
    """Send one customer email (wallet.emails), once: a mail-server outage schedules a retry with
    backoff; a second delivery of an email already sent does nothing."""
    import smtplib

    from django.conf import settings
    from django.db import IntegrityError
    from django.utils import timezone

    from . import emails
    from .models import SentEmail

    key = f"{kind}:{object_id}"
    if SentEmail.objects.filter(key=key).exists():
        return "already sent"
    try:
        if not emails.send(kind, object_id):
            return "nothing to send"
    except (OSError, smtplib.SMTPException) as exc:
        if attempt >= settings.EMAIL_MAX_ATTEMPTS:
            logger.error("giving up on %s email after %s attempts: %r", key, attempt, exc)
            return "gave up"
        delay = settings.EMAIL_RETRY_AFTER * (2 ** (attempt - 1))
        logger.warning("%s email not sent (%r); retry %s in %s", key, exc, attempt + 1, delay)
        try:
            send_email.using(run_after=timezone.now() + delay).enqueue(kind, object_id, attempt + 1)
        except InvalidTaskError:  # the immediate backend cannot defer a task
            logger.error("%s email not sent and this task backend cannot retry later", key)
            return "not sent"
        return "retry scheduled"
    try:
        SentEmail.objects.create(key=key)
    except IntegrityError:
        pass  # a twin delivery sent it at the same moment
    return "sent"


@task()
def prune_task_results() -> str:
    """Periodic chore (database backend only): delete finished task rows older than 14 days."""
    from django.conf import settings
    from django.core.management import call_command

    if settings.TASKS_BACKEND != "db":
        return "not the database backend"
    call_command("prune_db_task_results", queue_name="*", min_age_days=14, verbosity=0)
    return "pruned"


@task()
def auto_recharge(user_id: int) -> str:
    """Top up a wallet whose balance fell below its auto-recharge threshold (wallet.services.billing).
    Safe to deliver twice or twenty times: at most one recharge per user is in flight (a database
    constraint), and a delivery that finds the balance restored or the back-off running does nothing."""
    from .services import billing

    return billing.run_auto_recharge(user_id=user_id)
