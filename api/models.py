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
