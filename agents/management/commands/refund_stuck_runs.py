"""Refund agent runs left in "charged" (the process died between charge and result). Cron-safe."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from agents.services import refund_stuck_runs


class Command(BaseCommand):
    help = 'Refund agent runs still "charged" after --minutes (default 15): their process died mid-run.'

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes",
            type=int,
            default=15,
            help="Only runs charged longer ago than this (at least 3: the http runner may take 2 minutes).",
        )

    def handle(self, *args, minutes, **options):
        if minutes < 3:
            raise CommandError("--minutes must be at least 3: a run younger than that may still be running.")
        count = refund_stuck_runs(older_than=timedelta(minutes=minutes))
        self.stdout.write(f"Refunded {count} stuck agent run(s).")
