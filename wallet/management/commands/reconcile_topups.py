from django.core.management.base import BaseCommand, CommandError

from netcop_hub.durations import parse_duration
from wallet.reconcile import reconcile_topups


class Command(BaseCommand):
    help = (
        "Settle, fail or cancel unfinished card top-ups from their Stripe state, and retry refunds "
        "left pending. Safe to run repeatedly and concurrently. Exits 1 if any row had an error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default="2m",
            help="Only rows untouched for this long (30s, 2m, 1h, 1d). Default 2m.",
        )
        parser.add_argument("--limit", type=int, default=500, help="At most this many rows per run.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be done; change nothing."
        )

    def handle(self, *args, older_than, limit, dry_run, **options):
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        report = reconcile_topups(older_than=age, limit=limit, dry_run=dry_run)
        for line in report.lines:
            self.stdout.write(line)
        self.stdout.write(report.summary())
        if report.errors:
            # Non-zero so cron mails it and systemd marks the unit failed; rows stay for the next run.
            raise CommandError(
                f"{report.errors} row(s) could not be reconciled; they are left for the next run."
            )
        self.stdout.write(self.style.SUCCESS("Reconcile OK."))
