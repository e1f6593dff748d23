"""Documents in the admin: listed and downloadable, never added, edited or deleted (they are
immutable once issued; a correction is a new credit note, issued by the services)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from .models import BillingDetails, Document, DocumentCounter
from .pdf import render_pdf


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["display_number", "kind", "user", "issued_at", "net_total", "tax_total", "total", "pdf"]
    list_filter = ["kind", "year"]
    search_fields = ["user__email", "dispute_ref", "topup__stripe_payment_intent_id"]
    date_hierarchy = "issued_at"
    list_select_related = ["user"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["pdf"]

    @admin.display(description="number", ordering="number")
    def display_number(self, obj):
        return obj.display_number

    @admin.display(description="PDF")
    def pdf(self, obj):
        url = reverse("admin:documents_document_pdf", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        return [
            path("<uuid:document_id>/pdf/", self.admin_site.admin_view(self.pdf_view),
                 name="documents_document_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, document_id):
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        document = get_object_or_404(Document, pk=document_id)
        response = HttpResponse(render_pdf(document), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
        return response


@admin.register(DocumentCounter)
class DocumentCounterAdmin(admin.ModelAdmin):
    list_display = ["series", "year", "last_number"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BillingDetails)
class BillingDetailsAdmin(admin.ModelAdmin):
    list_display = ["user", "legal_name", "country", "trn", "updated_at"]
    search_fields = ["user__email", "legal_name", "trn"]
    raw_id_fields = ["user"]
