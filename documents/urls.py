from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("", views.documents_page, name="list"),
    path("<uuid:document_id>.pdf", views.download, name="download"),
    path("entries/<uuid:entry_id>.pdf", views.for_entry, name="for_entry"),
    path("billing-details/", views.save_billing_details, name="billing_details"),
]
