"""What turns the lower apps' signals into customer webhook events (connected in ApiConfig.ready)."""

from __future__ import annotations

from . import webhooks
from .models import WebhookEvent


def _wants(user_id, event_type: str) -> bool:
    # The cached subscription list: no SQL for an account without endpoints (most of them).
    return any(event_type in events for _pk, events in webhooks.subscribed(user_id))


def run_data(run) -> dict:
    refunded = run.refund_transaction_id is not None
    charged = run.charge_transaction_id is not None and not refunded
    return {
        "id": str(run.id),
        "agent": run.agent.slug,
        "status": run.status,
        "price": f"{run.price:.2f}",
        "charged": f"{run.price if charged else 0:.2f}",
        "refunded": refunded,
        "error": run.error_message,
        "api_key_id": run.api_key_id,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def on_run_finished(sender, *, run, canceled: bool, **kwargs) -> None:
    if canceled:
        event = WebhookEvent.RUN_CANCELED
    elif run.status == "succeeded":
        event = WebhookEvent.RUN_SUCCEEDED
    else:
        event = WebhookEvent.RUN_FAILED
    if _wants(run.user_id, event):
        webhooks.emit(user_id=run.user_id, event_type=event, data=run_data(run))


def on_topup_settled(sender, *, topup, entry, **kwargs) -> None:
    if _wants(topup.user_id, WebhookEvent.TOPUP_SUCCEEDED):
        webhooks.emit(
            user_id=topup.user_id, event_type=WebhookEvent.TOPUP_SUCCEEDED,
            data={"id": str(topup.pk), "amount": f"{topup.amount:.2f}", "currency": topup.currency,
                  "balance_after": f"{entry.balance_after:.2f}", "automatic": topup.is_automatic},
        )


def on_low_balance(sender, *, user_id, balance, alert, entry, **kwargs) -> None:
    """After the commit of the debit that crossed the owner's low-balance alert (once per crossing)."""
    if _wants(user_id, WebhookEvent.BALANCE_LOW):
        webhooks.emit(
            user_id=user_id, event_type=WebhookEvent.BALANCE_LOW,
            data={"balance": f"{balance:.2f}", "alert_below": f"{alert:.2f}",
                  "transaction_id": str(entry.pk)},
        )
