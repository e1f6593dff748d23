from django.core.management.base import BaseCommand, CommandError

from wallet.health import check_ledger


class Command(BaseCommand):
    help = "Check that every balance equals the sum of its ledger rows and the latest balance_after."

    def handle(self, *args, **options):
        report = check_ledger()
        for m in report.mismatches:
            self.stdout.write(
                f"MISMATCH user={m.user_id} {m.email}: balance={m.balance} ledger_sum={m.ledger_sum} "
                f"latest_balance_after={m.latest_balance_after} ({m.problem})"
            )
        self.stdout.write(
            f"Checked {report.users} users ({report.users_with_entries} with ledger rows): "
            f"total balance {report.total_balance}, total ledger {report.total_ledger}, "
            f"{len(report.mismatches)} mismatch(es)."
        )
        if not report.ok:
            raise CommandError(f"Ledger check failed for {len(report.mismatches)} user(s).")
        self.stdout.write(self.style.SUCCESS("Ledger OK."))
