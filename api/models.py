"""What the API remembers beyond the ledger and the runs: Idempotency-Key headers (issue 21)."""

import uuid

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """One client-chosen Idempotency-Key of one account, bound to the request it first came with.

    The run's exactly-once guarantee is the agents' own (user, request_id) constraint: this row
    only maps the header to that request id, and refuses the same header with another request
    (fingerprint: method, path and body)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    request_id = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_unique_per_user"),
        ]

    def __str__(self):
        return self.key


# --- customer webhooks (issue 21) ------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    RUN_SUCCEEDED = "run.succeeded", "A run succeeded"
    RUN_FAILED = "run.failed", "A run failed (refunded if it had been charged)"
    RUN_CANCELED = "run.canceled", "A queued run was canceled (refunded)"
    TOPUP_SUCCEEDED = "topup.succeeded", "A top-up was credited"
    BALANCE_LOW = "balance.low", "The balance fell below the low-balance alert"
    TEST = "webhook.test", "Test event (the page's button)"


class WebhookEndpoint(models.Model):
    """A customer's URL that receives signed events (Standard Webhooks).

    The signing secret is kept as is: HMAC signing needs it (as at Stripe or Svix); it is shown to
    its owner only. During a rotation the previous secret also signs until it expires, so a
    receiver can switch without missing a delivery."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=64, editable=False)
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["created_at"]
        constraints = [
            # A disabled endpoint says why (the page shows it to the owner).
            models.CheckConstraint(
                condition=models.Q(is_active=True) | ~models.Q(disabled_reason=""),
                name="webhookendpoint_disabled_has_reason",
            ),
        ]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, with its attempts: the endpoint's delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Gave up"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The webhook-id header: the same on every attempt, so receivers can drop duplicates.
    message_id = models.CharField(max_length=40, default="", editable=False)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="webhookdelivery_unique_message_id"),
            models.CheckConstraint(
                condition=~models.Q(status="succeeded") | models.Q(delivered_at__isnull=False),
                name="webhookdelivery_delivered_has_time",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.message_id}"
