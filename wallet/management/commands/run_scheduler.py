"""Enqueue the periodic chores (reconciliation, agent-run sweep) at their SCHEDULE_* intervals."""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from wallet.scheduler import CHORES, tick


class Command(BaseCommand):
    help = (
        "Enqueue the periodic chores at their SCHEDULE_* intervals for the task workers to run. "
        "Safe to run on several hosts at once: each chore's time slot is claimed once in the database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tick", type=float, default=5.0, help="Seconds between checks for a due chore (default 5)."
        )
        parser.add_argument("--once", action="store_true", help="Check once, enqueue what is due, exit.")

    def handle(self, *args, tick: float, once: bool, **options):
        self._running = True

        def stop(signum, frame):
            self._running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        schedule = ", ".join(
            f"{c.name} every {getattr(settings, c.setting)}" if c.interval() else f"{c.name} off"
            for c in CHORES
        )
        self.stdout.write(f"Scheduler started: {schedule}.")
        while self._running:
            close_old_connections()
            for name in self._tick():
                self.stdout.write(f"Enqueued {name}.")
            if once:
                break
            deadline = time.monotonic() + max(tick, 0.1)
            while self._running and time.monotonic() < deadline:
                time.sleep(0.1)
        close_old_connections()

    def _tick(self):
        try:
            return tick()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the scheduler
            self.stderr.write(f"Scheduler tick failed ({exc.__class__.__name__}); retrying.")
            return []
