"""
The periodic chores and the small scheduler that enqueues them (`manage.py run_scheduler`).

Every SCHEDULE_* interval is cut into fixed time slots (aligned to the epoch, so every host computes
the same slots). On each tick a scheduler inserts a ChoreSlot row for the current slot of each chore;
the unique (chore, slot_start) constraint lets one insert win across all hosts, and only the winner
enqueues the chore, after its insert commits. The chores themselves are idempotent, so a slot lost
between the insert and the enqueue (queue down) only means the chore waits for the next slot.

The chores are a registry: each app registers its own in its AppConfig.ready() (register_chore),
so the scheduler names no app's task.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import ChoreSlot

logger = logging.getLogger(__name__)

# How long claimed slots are kept (for the admin / debugging) before the scheduler prunes them.
KEEP_SLOTS = timedelta(days=2)


@dataclass(frozen=True)
class Chore:
    name: str
    task: Any  # a django_tasks Task taking no arguments
    setting: str

    def interval(self) -> timedelta | None:
        """The setting, parsed at start-up: None when "off"."""
        return getattr(settings, self.setting, None)


CHORES: list[Chore] = []


def register_chore(*, name: str, task: Any, setting: str) -> None:
    """Add a periodic chore (from an AppConfig.ready()); its interval is read from `setting`.
    Registering a name again replaces it, so a repeated ready() adds nothing."""
    CHORES[:] = [chore for chore in CHORES if chore.name != name]
    CHORES.append(Chore(name, task, setting))


def slot_start(now: datetime, interval: timedelta) -> datetime:
    """Start of the slot containing `now`: the same answer on every host."""
    step = int(interval.total_seconds())
    seconds = int(now.timestamp()) // step * step
    return datetime.fromtimestamp(seconds, tz=UTC)


def _enqueue(chore: Chore) -> None:
    try:
        chore.task.enqueue()
    except Exception:
        # The slot stays claimed: the chore runs at its next slot (chores are idempotent).
        logger.exception("could not enqueue chore %s; it will run at its next slot", chore.name)


def tick(*, now: datetime | None = None, who: str = "") -> list[str]:
    """Claim and enqueue every chore whose current slot nobody has claimed yet; the names enqueued."""
    now = now or timezone.now()
    who = who or f"{socket.gethostname()}:{os.getpid()}"
    claimed = []
    for chore in CHORES:
        interval = chore.interval()
        if interval is None:
            continue
        start = slot_start(now, interval)
        try:
            with transaction.atomic():
                ChoreSlot.objects.create(chore=chore.name, slot_start=start, claimed_by=who[:120])
                transaction.on_commit(partial(_enqueue, chore))
        except IntegrityError:
            continue  # this slot was claimed already, by this host or another
        logger.info("scheduler: enqueued %s for the slot starting %s", chore.name, start.isoformat())
        claimed.append(chore.name)
    if claimed:
        ChoreSlot.objects.filter(slot_start__lt=now - KEEP_SLOTS).delete()
    return claimed
