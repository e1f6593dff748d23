"""Evidence for a dispute: what Stripe asks for, gathered from our own records, and its submission.

collect_evidence builds Stripe's evidence fields from the top-up, the customer, the receipt we sent
and what the money paid for (the agent runs in the ledger after the top-up). Ops review and edit it
in the admin, then submit_evidence sends it through the gateway (no transaction open) and records
the submission and Stripe's new state of the dispute (apply_dispute: once, like every other path).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from .. import payments
from ..emails import TOPUP_RECEIPT
from ..models import Dispute, PaymentOrigin, SentEmail, TxType, WalletTransaction
from ..money import format_money
from .disputes import apply_dispute

logger = logging.getLogger(__name__)

# The evidence fields we fill (Stripe's names), in the order the admin form shows them.
EVIDENCE_FIELDS = (
    ("customer_email_address", "Customer's email"),
    ("customer_name", "Customer's name"),
    ("customer_purchase_ip", "IP address of the payment"),
    ("service_date", "Date of the payment"),
    ("product_description", "What was bought"),
    ("access_activity_log", "What the money paid for (agent runs)"),
    ("receipt", "Receipt sent"),
    ("uncategorized_text", "Anything else"),
)
RUNS_LISTED = 200


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def collect_evidence(dispute: Dispute) -> dict[str, str]:
    """Stripe's evidence fields, filled from our records (every value a string, empty if unknown)."""
    topup, user = dispute.topup, dispute.user
    runs = list(
        WalletTransaction.objects.filter(
            user=user, type=TxType.AGENT_USAGE, created_at__gte=topup.created_at
        ).order_by("created_at")[:RUNS_LISTED]
    )
    activity = "\n".join(
        f"{_when(row.created_at)}  {row.description}  {format_money(-row.amount)}" for row in runs
    )
    origin = PaymentOrigin.objects.filter(topup=topup).first()
    receipts = SentEmail.objects.filter(key=f"{TOPUP_RECEIPT}:{topup.pk}")
    receipt = receipts.values_list("sent_at", flat=True).first()
    return {
        "customer_email_address": user.email,
        "customer_name": user.username,
        "customer_purchase_ip": str(origin.client_ip or "") if origin else "",
        "service_date": timezone.localtime(topup.created_at).strftime("%Y-%m-%d"),
        "product_description": (
            f"Prepaid NetCop Wallet top-up of {format_money(topup.amount, topup.currency)}, paid by card "
            f"on {_when(topup.created_at)} by the account holder while logged in, credited to the wallet at "
            "once and spent on paid AI security agents (a digital service delivered instantly)."
        ),
        "access_activity_log": (
            f"Agent runs paid from the wallet after this top-up ({len(runs)} shown):\n{activity}"
            if runs else "No agent runs were paid from the wallet after this top-up."
        ),
        "receipt": (
            f"Receipt emailed to {user.email} on {_when(receipt)} (top-up {topup.pk})."
            if receipt else f"No receipt email is recorded for top-up {topup.pk}."
        ),
        "uncategorized_text": (
            f"Top-up {topup.pk}, Stripe PaymentIntent {topup.stripe_payment_intent_id}. "
            f"Account {user.email} created on {_when(user.date_joined)}."
        ),
    }


def submit_evidence(*, dispute: Dispute, evidence: dict[str, str], staff) -> Dispute:
    """Send `evidence` (empty fields left out) to Stripe and submit it; record who did and when."""
    fields = {name: value.strip() for name, value in evidence.items()
              if name in dict(EVIDENCE_FIELDS) and value and value.strip()}
    result = payments.submit_dispute_evidence(dispute.stripe_dispute_id, evidence=fields)
    with transaction.atomic():
        Dispute.objects.filter(pk=dispute.pk).update(
            evidence_submitted_at=timezone.now(), evidence_submitted_by=staff, updated_at=timezone.now()
        )
    logger.warning("evidence for dispute %s submitted by %s", dispute.stripe_dispute_id, staff)
    # Stripe's answer is the dispute's new state (the sandbox may decide it at once, as test mode does).
    if result.payment_intent_id:
        apply_dispute(dispute=result)
    return Dispute.objects.get(pk=dispute.pk)
