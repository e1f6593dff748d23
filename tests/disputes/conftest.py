"""Disputes against a real localstripe: the sandbox keeps Stripe's dispute test cards' disputes on
the charge and announces them; `sandbox_events` captures what it would post to the webhook."""

import uuid

import pytest

from tests.helpers import WEBHOOK_URL

DISPUTE_CARD = "4000000000000259"
FRAUD_WARNING_CARD = "4000000000005423"


class Deliveries:
    """What the sandbox enqueued for the webhook, delivered on demand through the test client."""

    def __init__(self, secret: str):
        self.secret = secret
        self.events: list[tuple[str, dict, str]] = []

    def types(self) -> list[str]:
        return [event_type for event_type, _, _ in self.events]

    def deliver(self, client, *, only: str | None = None, reverse: bool = False):
        from wallet.payments.sandbox_disputes import signed_event

        events = [e for e in self.events if only is None or e[0] == only]
        answers = []
        for event_type, obj, event_id in reversed(events) if reverse else events:
            body, signature = signed_event(event_type, obj, secret=self.secret, event_id=event_id)
            answers.append(
                client.post(WEBHOOK_URL, data=body, content_type="application/json",
                            HTTP_STRIPE_SIGNATURE=signature)
            )
        return answers


@pytest.fixture
def sandbox_events(monkeypatch, webhook_secret, stripe_sandbox):
    from wallet.payments import sandbox_disputes

    captured = Deliveries(webhook_secret)

    def enqueue(event_type, obj, event_id):
        captured.events.append((event_type, obj, event_id))

    monkeypatch.setattr(sandbox_disputes, "enqueue_delivery", enqueue)
    return captured


@pytest.fixture
def pay(stripe_sandbox):
    """pay(user, amount, card): a top-up through start_topup with a card number; returns the TopUp."""
    from wallet import services

    def go(user, amount="100.00", card="4242424242424242", client_ip=""):
        result = services.start_topup(
            user=user, amount=amount, payment_method_id=stripe_sandbox.card(card),
            idempotency_key=uuid.uuid4().hex, client_ip=client_ip,
        )
        assert result.credited_now, result.topup.failure_reason
        return result.topup

    return go
