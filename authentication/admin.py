"""Users in the admin: search by email, and who may change whom.

Only superusers grant privileges or touch an account with power (staff, permissions, groups). The
wallet's part of the user page (balance, latest ledger entries, "Adjust balance") is added from above,
by wallet/user_admin.py, which registers its subclass in place of this one.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format

from .models import User

# Who holds power over the site. Only superusers may change these, on anyone (themselves included):
# a staff member with "change user" could otherwise grant themselves the money permissions.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users by email. The balance is read-only: it changes only through the ledger."""

    ordering = ["-date_joined"]
    list_display = ["email", "username", "is_staff", "joined"]
    search_fields = ["email", "username"]
    search_help_text = "Email address or display name."
    readonly_fields = ["last_login", "date_joined", "email_verified_at", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("username", "first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "email_verified_at", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )

    @admin.display(description="Joined", ordering="date_joined")
    def joined(self, obj):
        return date_format(timezone.localtime(obj.date_joined), "j M Y") if obj.date_joined else "—"

    def save_model(self, request, obj, form, change):
        before = (form.initial.get("email") or "").strip().lower() if change else ""
        super().save_model(request, obj, form, change)
        if change and before != obj.email and obj.email_verified_at is not None:
            # Issue 20 review: a confirmation proves the old address only. The new one is confirmed
            # through its own link before the next top-up (TOPUP_REQUIRE_VERIFIED_EMAIL).
            User.objects.filter(pk=obj.pk).update(email_verified_at=None)
            obj.email_verified_at = None

    # --- Privileges: superusers only ----------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        # Read-only fields are left out of the ModelForm, so a hand-made POST of them is ignored.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in PRIVILEGE_FIELDS if name not in fields]
        return fields

    @staticmethod
    def is_privileged(obj) -> bool:
        """Staff, superusers and anyone holding permissions or groups: accounts with power.

        Their email or password in other hands is a takeover (a support agent resets a treasurer's
        password, logs in as them and credits any wallet), so only superusers change, reset or
        delete them.
        """
        return bool(
            obj.is_superuser or obj.is_staff or obj.groups.exists() or obj.user_permissions.exists()
        )

    def has_change_permission(self, request, obj=None):
        # Also guards the admin's password-change page, which asks the same question.
        if obj is not None and not request.user.is_superuser and self.is_privileged(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and self.is_privileged(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        # The bulk "delete selected" action asks without an object: never an account with power.
        if not request.user.is_superuser:
            privileged = User.objects.filter(
                Q(is_superuser=True) | Q(is_staff=True) | Q(groups__isnull=False)
                | Q(user_permissions__isnull=False)
            )
            queryset = queryset.exclude(pk__in=privileged.values("pk"))
        super().delete_queryset(request, queryset)
