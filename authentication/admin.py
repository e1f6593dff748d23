from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users by email. The balance is read-only: it changes only through the ledger."""

    ordering = ["-date_joined"]
    list_display = ["email", "username", "wallet_balance", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "username"]
    readonly_fields = ["wallet_balance", "last_login", "date_joined", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("username", "first_name", "last_name")}),
        ("Wallet", {"fields": ("wallet_balance",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )
