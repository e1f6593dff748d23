from django.urls import path

from . import views

app_name = "api_keys"

urlpatterns = [
    path("", views.keys, name="list"),
    path("<int:key_id>/revoke/", views.revoke, name="revoke"),
]
