"""Shared pieces of the wallet's admin: the read-only base for records only code writes, and dates."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from netcop_hub.views import PermissionDeniedWithReason


def short_datetime(value) -> str:
    """"27 Nov 2026, 08:45" in the site's time zone: half the width of Django's default format."""
    return date_format(timezone.localtime(value), "j M Y, H:i") if value else "—"


class WhenColumnMixin:
    @admin.display(description="When", ordering="created_at")
    def when(self, obj):
        return short_datetime(obj.created_at)


class ReadOnlyAdmin(WhenColumnMixin, admin.ModelAdmin):
    """Records that only code writes: no add, change or delete for anyone (superusers included);
    every active staff member may look. Trying anyway shows the 403 page with `read_only_reason`."""

    read_only_reason = "These records are written by the system only and cannot be changed here."

    def _refuse(self, request):
        raise PermissionDeniedWithReason(
            self.read_only_reason,
            back_url=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
            back_label=f"Back to {self.opts.verbose_name_plural}",
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        self._refuse(request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST" and self.has_view_permission(request):
            self._refuse(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        self._refuse(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Money records are shown only to staff granted the model's view (or change) permission.
        return request.user.is_active and request.user.is_staff and super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and super().has_module_permission(request)
