"""Reconciliation: bring every unfinished top-up in line with Stripe, with no webhook needed.

For each TopUp not in a final state and untouched for `older_than`, read its PaymentIntent from
Stripe and hand it to services.settle_topup (the one door to balance), cancel intents abandoned at
3-D Secure, and fail top-ups whose intent never came to exist. Failed or canceled top-ups created
within TOPUP_ABANDON_AFTER are read again: the browser may have paid the same intent with another
card since. Refunds left pending are read from Stripe by their refund id, or retried with their
original idempotency key while Stripe still honours it (services.retry_pending_refund).

Safe to run repeatedly and concurrently (with itself and live traffic): no transaction or row lock
is held across a Stripe call; a run claims a row by a conditional UPDATE of its updated_at (claimed
only if nobody changed it since we read it), and rows touched within `older_than` are not
candidates, so two runs skip each other's rows. settle_topup is idempotent anyway: the claim only
saves double work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import payments, services
from .exceptions import PaymentProviderError, PaymentProviderUnavailable, WalletError
from .models import CardRefund, Dispute, EarlyFraudWarning, TopUp
from .money import format_money
from .payments import IntentStatus
from .services.chargebacks import sync_dispute, sync_fraud_warning
from .services.topups import NOT_STARTED

logger = logging.getLogger(__name__)

OPEN_STATUSES = (TopUp.Status.PENDING, TopUp.Status.REQUIRES_ACTION)
# Final but not credited: their intent can still succeed (e.g. confirmed again with another card).
REVISITED_STATUSES = (TopUp.Status.FAILED, TopUp.Status.CANCELED)
# Intent states that wait for the customer; abandoned ones are canceled after TOPUP_ABANDON_AFTER.
WAITING_STATES = (IntentStatus.REQUIRES_ACTION, IntentStatus.REQUIRES_CONFIRMATION)
# After this many Stripe outages in a row a run stops: the rest waits for the next run.
MAX_CONSECUTIVE_OUTAGES = 3
# One page of PaymentIntents scanned (where the backend has no search) for a lost intent.
RECENT_INTENTS = payments.RECENT_INTENTS
# Disputes and early fraud warnings listed per run (newest first), so none is missed without webhooks.
RECENT_CHARGEBACKS = 100

@dataclass(frozen=True)
class Outcome:
    """What reconciling one top-up did (or, in a dry run, would do)."""

    action: str  # credited, settled, failed, canceled, waiting, not_found, error, skipped
    message: str
    ok: bool = True


@dataclass
class ReconcileReport:
    dry_run: bool = False
    candidates: int = 0
    skipped: int = 0
    errors: int = 0
    stopped_early: bool = False
    counts: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)

    def add(self, label: str, outcome: Outcome) -> None:
        self.counts[outcome.action] = self.counts.get(outcome.action, 0) + 1
        if not outcome.ok:
            self.errors += 1
        self.lines.append(f"{label}: {outcome.message}")

    @property
    def credited(self) -> int:
        return self.counts.get("credited", 0)

    def summary(self) -> str:
        done = ", ".join(f"{n} {action}" for action, n in sorted(self.counts.items())) or "nothing to do"
        prefix = "Dry run: " if self.dry_run else ""
        tail = " Stopped early: Stripe unreachable." if self.stopped_early else ""
        return (
            f"{prefix}{self.candidates} candidate(s): {done}; {self.skipped} skipped (held by another "
            f"run), {self.errors} error(s).{tail}"
        )


def _claim(model, pk, seen_updated_at, now) -> bool:
    """Claim a row for this run: only if nobody (another run, a request) changed it since we read it."""
    return model.objects.filter(pk=pk, updated_at=seen_updated_at).update(updated_at=now) == 1


def _age(topup, now) -> timedelta:
    return now - topup.created_at


def unstarted_after(topup: TopUp) -> timedelta:
    """How long a top-up without an intent may wait for one to appear at Stripe. An automatic one is
    a single server-side call (no browser can still create its intent later) that blocks every
    recharge of the wallet while pending (issue 18): it is decided within minutes."""
    return settings.AUTO_RECHARGE_UNSTARTED_AFTER if topup.is_automatic else settings.TOPUP_UNSTARTED_AFTER


def _find_intent(topup, intents: list) -> payments.Intent | None:
    """The intent created for a top-up whose create response we never got, found by its metadata."""
    for intent in intents:
        if intent.metadata.get("topup_id") == str(topup.id) and intent.metadata.get("user_id") == str(
            topup.user_id
        ):
            return intent
    return None


def reconcile_one(
    topup: TopUp,
    *,
    dry_run: bool = False,
    now=None,
    finder: Callable[[str], tuple[list[payments.Intent], bool]] | None = None,
) -> Outcome:
    """Reconcile one top-up with Stripe (no transaction may be open: Stripe is called).

    finder: a run's payments.lost_intent_finder() (one is made when not given).

    Raises PaymentProviderUnavailable when Stripe cannot be reached; the row is left as it was.
    """
    now = now or timezone.now()
    topup.refresh_from_db()
    if topup.status in REVISITED_STATUSES and topup.stripe_payment_intent_id:
        intent = payments.retrieve_intent(topup.stripe_payment_intent_id)
        if intent.status != IntentStatus.SUCCEEDED:
            return Outcome("settled", f"still {topup.get_status_display().lower()} ({intent.status})")
        if dry_run:
            return Outcome("waiting", f"would credit intent {intent.id} (succeeded after {topup.status})")
        return _settle(intent)
    if topup.is_final:
        return Outcome("settled", f"already {topup.get_status_display().lower()}")

    if not topup.stripe_payment_intent_id:
        # Real Stripe searches for exactly this top-up's intent. Search is eventually consistent
        # (about a minute behind), far inside TOPUP_UNSTARTED_AFTER; should it lag longer, the
        # webhook still attaches the intent by its metadata and credits even a failed top-up.
        candidates, truncated = (finder or payments.lost_intent_finder())(str(topup.id))
        found = _find_intent(topup, candidates)
        if found is None:
            if _age(topup, now) < unstarted_after(topup):
                return Outcome("waiting", "no intent at Stripe yet; left pending")
            if truncated:
                # A full page may have cut the intent off: failing it could lose a payment. Leave it
                # pending and visible; the webhook (metadata lookup) or a person settles it.
                logger.warning("topup %s: no intent among %s listed; left pending", topup.id, RECENT_INTENTS)
                return Outcome("waiting", f"no intent among the {RECENT_INTENTS} most recent; left pending")
            if dry_run:
                return Outcome("failed", "would mark failed: no intent at Stripe")
            services.mark_topup(topup.id, status=TopUp.Status.FAILED, failure_reason=NOT_STARTED)
            return Outcome("failed", "marked failed: no intent at Stripe")
        intent = found
        if dry_run:
            return Outcome("waiting", f"would attach intent {intent.id} ({intent.status}) and settle it")
        if services.attach_intent_by_metadata(intent=intent) is None:
            return Outcome("error", f"intent {intent.id} could not be attached (see log)", ok=False)
    else:
        intent = payments.retrieve_intent(topup.stripe_payment_intent_id)

    if intent.status in WAITING_STATES and _age(topup, now) >= settings.TOPUP_ABANDON_AFTER:
        if dry_run:
            return Outcome("canceled", f"would cancel intent {intent.id} abandoned in {intent.status}")
        # If it moved on (e.g. succeeded) between our read and the cancel: settle what it is now.
        intent = payments.cancel_or_retrieve(intent.id)

    if dry_run:
        verb = "would credit" if intent.status == IntentStatus.SUCCEEDED else "would record"
        return Outcome("waiting", f"{verb} intent {intent.id} ({intent.status})")
    return _settle(intent)


def _settle(intent) -> Outcome:
    try:
        result = services.settle_topup(intent=intent)
    except WalletError as exc:  # e.g. TopUpMismatch: needs a person, logged by settle_topup
        return Outcome("error", f"intent {intent.id} not settled: {type(exc).__name__}", ok=False)
    if result.credited_now:
        credited = format_money(result.topup.amount, result.topup.currency)
        return Outcome("credited", f"credited {credited} ({intent.id})")
    status = result.topup.status
    if status in (TopUp.Status.FAILED, TopUp.Status.CANCELED):
        return Outcome(status, f"marked {status} ({intent.id} is {intent.status})")
    if status == TopUp.Status.SUCCEEDED:
        return Outcome("settled", "already credited")
    return Outcome("waiting", f"still {intent.status} ({intent.id})")


def reconcile_topups(
    *, older_than: timedelta = timedelta(minutes=2), limit: int = 500, dry_run: bool = False
) -> ReconcileReport:
    """Reconcile up to `limit` unfinished top-ups not touched for `older_than`, then pending refunds."""
    now = timezone.now()
    cutoff = now - older_than
    report = ReconcileReport(dry_run=dry_run)
    # Failed/canceled ones by created_at: a run's claim moves updated_at, which would keep them forever.
    revisit_since = now - settings.TOPUP_ABANDON_AFTER
    rows = list(
        TopUp.objects.filter(created_at__lte=cutoff, updated_at__lte=cutoff)
        .filter(
            Q(status__in=OPEN_STATUSES)
            | Q(
                status__in=REVISITED_STATUSES,
                stripe_payment_intent_id__isnull=False,
                created_at__gte=revisit_since,
            )
        )
        .order_by("created_at")
        .values_list("pk", "updated_at")[:limit]
    )
    report.candidates = len(rows)
    finder = payments.lost_intent_finder()  # lists recent intents at most once per run, if needed
    outages = 0
    for pk, updated_at in rows:
        label = f"topup {pk}"
        if not dry_run and not _claim(TopUp, pk, updated_at, timezone.now()):
            report.skipped += 1
            continue
        topup = TopUp.objects.get(pk=pk)
        label = f"topup {pk} ({format_money(topup.amount, topup.currency)}, user {topup.user_id})"
        try:
            outcome = reconcile_one(topup, dry_run=dry_run, now=now, finder=finder)
            outages = 0
        except PaymentProviderUnavailable:
            outages += 1
            outcome = Outcome("error", "Stripe unreachable; left for the next run", ok=False)
        except PaymentProviderError:
            outcome = Outcome("error", "Stripe refused the request (see log); left as it is", ok=False)
        report.add(label, outcome)
        if outages >= MAX_CONSECUTIVE_OUTAGES:
            report.stopped_early = True
            break
    if not report.stopped_early:
        _retry_refunds(report, cutoff=cutoff, limit=limit, dry_run=dry_run)
    if not report.stopped_early:
        _sync_chargebacks(report, dry_run=dry_run)
    logger.info("reconcile_topups: %s", report.summary())
    return report


def _retry_refunds(report: ReconcileReport, *, cutoff, limit: int, dry_run: bool) -> None:
    rows = list(
        CardRefund.objects.filter(
            # Pending refunds: those that debited the wallet, and returns of payments never credited.
            status=CardRefund.Status.PENDING,
            updated_at__lte=cutoff,
        )
        .order_by("created_at")
        .values_list("pk", "updated_at")[:limit]
    )
    for pk, updated_at in rows:
        label = f"refund {pk}"
        report.candidates += 1
        if dry_run:
            report.add(label, Outcome("waiting", "would ask Stripe again for this pending refund"))
            continue
        if not _claim(CardRefund, pk, updated_at, timezone.now()):
            report.skipped += 1
            continue
        try:
            refund = services.retry_pending_refund(CardRefund.objects.select_related("topup").get(pk=pk))
        except PaymentProviderUnavailable:
            report.add(label, Outcome("error", "Stripe unreachable; left pending", ok=False))
            continue
        if refund.status == CardRefund.Status.PENDING and refund.failure_reason.startswith(
            services.NEEDS_REVIEW
        ):
            report.add(label, Outcome("needs_review", f"left pending. {refund.failure_reason}", ok=False))
        elif refund.status == CardRefund.Status.PENDING and refund.stripe_refund_id:
            report.add(label, Outcome("waiting", f"pending at Stripe ({refund.stripe_refund_id})"))
        elif refund.status == CardRefund.Status.PENDING:
            report.add(label, Outcome("error", "Stripe unreachable; left pending", ok=False))
        elif refund.status == CardRefund.Status.SUCCEEDED:
            report.add(label, Outcome("refunded", f"refund succeeded ({refund.stripe_refund_id})"))
        else:
            report.add(label, Outcome("refund_reversed", "Stripe refused or failed it; debit reversed"))


def _nothing_new(dispute: payments.Dispute, status: str, withdrawn_at, reinstated_at) -> bool:
    """Whether our row already records everything this dispute says."""
    return (
        status == dispute.status
        and (withdrawn_at is not None or not dispute.funds_withdrawn)
        and (reinstated_at is not None or not dispute.funds_reinstated)
    )


def _sync_chargebacks(report: ReconcileReport, *, dry_run: bool) -> None:
    """List recent disputes and early fraud warnings and apply what is new (issue 20). Applying is
    idempotent (a dispute's steps and a warning's refund happen once), so only objects whose state
    we have not recorded yet are handed over; a listing outage is reported, never fatal."""
    try:
        disputes = payments.list_recent_disputes(limit=RECENT_CHARGEBACKS)
        warnings = payments.list_recent_fraud_warnings(limit=RECENT_CHARGEBACKS)
    except (PaymentProviderUnavailable, PaymentProviderError):
        report.add("disputes", Outcome("error", "Stripe unreachable: disputes not listed", ok=False))
        return
    known = {
        row[0]: row[1:]
        for row in Dispute.objects.filter(stripe_dispute_id__in=[d.id for d in disputes]).values_list(
            "stripe_dispute_id", "status", "withdrawn_at", "reinstated_at"
        )
    }
    for dispute in disputes:
        seen = known.get(dispute.id)
        if seen is not None and _nothing_new(dispute, *seen):
            continue
        label = f"dispute {dispute.id}"
        report.candidates += 1
        if dry_run:
            report.add(label, Outcome("waiting", f"would apply ({dispute.status})"))
            continue
        try:
            result = sync_dispute(dispute)
        except (WalletError, PaymentProviderError) as exc:
            report.add(label, Outcome("error", f"not applied: {type(exc).__name__}", ok=False))
            continue
        report.add(label, Outcome("dispute", str(result) if result else "not one of our top-ups"))
    handled = set(
        EarlyFraudWarning.objects.filter(stripe_warning_id__in=[w.id for w in warnings])
        .exclude(outcome="")
        .values_list("stripe_warning_id", flat=True)
    )
    for warning in warnings:
        if warning.id in handled:
            continue
        label = f"early fraud warning {warning.id}"
        report.candidates += 1
        if dry_run:
            report.add(label, Outcome("waiting", "would handle it"))
            continue
        try:
            row = sync_fraud_warning(warning)
        except (WalletError, PaymentProviderError) as exc:
            report.add(label, Outcome("error", f"not handled: {type(exc).__name__}", ok=False))
            continue
        report.add(label, Outcome("fraud_warning", row.outcome if row else "not one of our top-ups"))
