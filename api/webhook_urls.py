from django.urls import path

from . import webhook_views

app_name = "webhooks"

urlpatterns = [
    path("", webhook_views.endpoints, name="list"),
    path("<int:endpoint_id>/<slug:what>/", webhook_views.action, name="action"),
]
