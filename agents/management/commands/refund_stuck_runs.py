"""Refund agent runs whose process died (inline runs left "charged"), refund queued runs no worker took
in time, and retry once (or refund) queued runs whose worker died. Safe to run anywhere, any time;
the scheduler runs the same sweep every SCHEDULE_SWEEP_AGENT_RUNS."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from agents.queue import refund_stuck_runs, sweep_queued_runs


class Command(BaseCommand):
    help = (
        'Refund inline agent runs still "charged" after --minutes (default 15), and sweep queued runs '
        "(AGENT_QUEUE_MAX_WAIT, AGENT_RUN_LOST_AFTER)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes",
            type=int,
            default=15,
            help="Only inline runs charged longer ago than this (at least 3).",
        )

    def handle(self, *args, minutes, **options):
        if minutes < 3:
            raise CommandError("--minutes must be at least 3: a run younger than that may still be running.")
        count = refund_stuck_runs(older_than=timedelta(minutes=minutes))
        self.stdout.write(f"Refunded {count} stuck agent run(s).")
        self.stdout.write(f"Queued runs: {sweep_queued_runs()}.")
