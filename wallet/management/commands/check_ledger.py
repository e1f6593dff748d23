from django.core.management.base import BaseCommand, CommandError

from wallet.health import check_ledger, money_totals


class Command(BaseCommand):
    help = "Check that every balance equals the sum of its ledger rows and the latest balance_after."

    def handle(self, *args, **options):
        report = check_ledger()
        for m in report.mismatches:
            self.stdout.write(
                f"MISMATCH user={m.user_id} {m.email}: balance={m.balance} ledger_sum={m.ledger_sum} "
                f"latest_balance_after={m.latest_balance_after} lots_sum={m.lots_sum} ({m.problem})"
            )
        self.stdout.write(
            f"Checked {report.users} users ({report.users_with_entries} with ledger rows): "
            f"total balance {report.total_balance}, total ledger {report.total_ledger}, "
            f"{len(report.mismatches)} mismatch(es)."
        )
        if not report.ok:
            raise CommandError(f"Ledger check failed for {len(report.mismatches)} user(s).")
        t = money_totals()
        self.stdout.write(
            f"Balances {t.balances} = credits {t.credits} - card refunds {t.card_refunds} - agent spend "
            f"{t.agent_spend} + adjustments {t.adjustments} - disputes {t.disputes} + reinstated "
            f"{t.reinstated} + promotional net of expiry {t.promotional} "
            f"= {t.expected}; still owed after disputes: {t.owed}."
        )
        if not t.ok:
            raise CommandError("Money invariant broken: the balances do not add up to the ledger's flows.")
        self.stdout.write(self.style.SUCCESS("Ledger OK."))
