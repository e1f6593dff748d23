"""The gateway's dispute, evidence and early-fraud-warning calls (issue 20) against stripe-mock:
every request passes Stripe's own validation at the pinned API version, and full real-shaped
objects parse into our dataclasses."""

import pytest
import stripe

from wallet import payments, reconcile
from wallet.payments import Dispute, FraudWarning

pytestmark = pytest.mark.usefixtures("stripe_mock")


def _raw(path: str, object_id: str) -> dict:
    client = payments.stripe_backend._client()
    service = client.v1.disputes if path == "disputes" else client.v1.radar.early_fraud_warnings
    return service.retrieve(object_id).to_dict()


def test_dispute_retrieve_parses_a_full_object():
    dispute = payments.retrieve_dispute("dp_123")
    raw = _raw("disputes", "dp_123")
    assert isinstance(dispute, Dispute) and dispute.id == raw["id"] and dispute.id.startswith("dp_")
    assert dispute.amount == raw["amount"] and isinstance(dispute.amount, int)
    assert dispute.currency == raw["currency"].lower() and dispute.status == raw["status"]
    assert dispute.charge_id.startswith("ch_") and dispute.reason == raw["reason"]
    assert dispute.evidence_due_by == raw["evidence_details"]["due_by"]
    # Funds follow the balance transactions (or the status where there are none).
    moves = [bt["amount"] for bt in raw["balance_transactions"]]
    assert dispute.funds_withdrawn == (any(m < 0 for m in moves) or raw["status"] in (
        "needs_response", "under_review", "won", "lost"))
    assert dispute.funds_reinstated == (any(m > 0 for m in moves) or raw["status"] == "won")


def test_dispute_list_and_evidence_submission_are_valid_requests():
    disputes = payments.list_recent_disputes(limit=100)
    assert disputes and all(isinstance(d, Dispute) for d in disputes)
    submitted = payments.submit_dispute_evidence(
        "dp_123",
        evidence={
            "customer_email_address": "someone@example.com", "customer_name": "someone",
            "customer_purchase_ip": "203.0.113.7", "service_date": "2026-12-01",
            "product_description": "Prepaid wallet top-up", "access_activity_log": "runs",
            "receipt": "Receipt emailed", "uncategorized_text": "Top-up 1",
        },
    )
    assert submitted.id.startswith("dp_")


def test_a_misspelled_dispute_parameter_is_rejected():
    """The check can fail: Stripe (and stripe-mock) refuse a parameter that does not exist."""
    with pytest.raises(stripe.InvalidRequestError):
        payments.stripe_backend._client().v1.disputes.update(
            "dp_123", params={"evidence": {"receipt": "x"}, "sumbit": True}  # type: ignore[typeddict-unknown-key]
        )


def test_early_fraud_warning_retrieve_and_list():
    warning = payments.retrieve_fraud_warning("issfr_123")
    raw = _raw("efw", "issfr_123")
    assert isinstance(warning, FraudWarning) and warning.id == raw["id"]
    assert warning.actionable == raw["actionable"] and warning.fraud_type == raw["fraud_type"]
    assert warning.charge_id.startswith("ch_")
    assert all(isinstance(w, FraudWarning) for w in payments.list_recent_fraud_warnings(limit=100))


@pytest.mark.django_db
def test_reconcile_lists_disputes_and_warnings_at_stripe():
    """Real Stripe (not the sandbox): reconciliation lists both; stripe-mock's fixtures name a charge
    whose intent is not one of our top-ups, so nothing is applied and nothing errors."""
    report = reconcile.reconcile_topups()
    assert report.errors == 0, report.lines
    assert any(line.startswith("dispute dp_") for line in report.lines)
