"""API keys and customer webhooks in the admin (issue 21): for ops to look, never to edit.

Keys and endpoints are their owners' (created, revoked and rotated on their own pages); the admin
shows who has which key, when it was last used and from where, and each endpoint's deliveries."""

from django.contrib import admin

from authentication.models import ApiKey
from wallet.admin import ReadOnlyAdmin, short_datetime

from .models import WebhookDelivery, WebhookEndpoint


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    read_only_reason = (
        "API keys are their owners' credentials: they create and revoke them on their API keys page."
    )
    list_display = ["name", "prefix", "user", "used", "revoked"]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__email"]
    exclude = ["secret_hash"]

    @admin.display(description="Last used", ordering="last_used_at")
    def used(self, obj):
        return short_datetime(obj.last_used_at)

    @admin.display(description="Revoked", ordering="revoked_at")
    def revoked(self, obj):
        return short_datetime(obj.revoked_at)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    read_only_reason = "Webhook endpoints are their owners': they manage them on their webhooks page."
    list_display = ["url", "user", "is_active", "failing"]
    list_select_related = ["user"]
    search_fields = ["url", "user__email"]
    exclude = ["secret", "previous_secret"]

    @admin.display(description="Failing since", ordering="failing_since")
    def failing(self, obj):
        return short_datetime(obj.failing_since)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    read_only_reason = "Deliveries are the record of what was sent and cannot be changed."
    list_display = ["event_type", "endpoint", "status", "attempts", "when"]
    list_select_related = ["endpoint"]
    list_filter = ["status", "event_type"]
    search_fields = ["message_id", "endpoint__url"]
