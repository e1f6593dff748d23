from django.contrib import admin

from .forms import AgentAdminForm
from .models import Agent, AgentRun


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = ["name", "slug", "price", "is_active", "runner", "sort_order", "updated_at"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active", "runner"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    """Runs are evidence of money moved: visible to staff, never edited here."""

    list_display = ["started_at", "user", "agent", "status", "price", "finished_at"]
    list_filter = ["agent", "status", ("started_at", admin.DateFieldListFilter)]
    search_fields = ["user__email", "=id", "=request_id"]
    list_select_related = ["user", "agent"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "id", "user", "agent", "request_id", "status", "price", "charge_transaction",
        "refund_transaction", "error_message", "started_at", "queued_at", "claimed_at", "attempts",
        "finished_at", "input", "output", "report",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
