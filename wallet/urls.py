from django.urls import path

from . import history_views, views

app_name = "wallet"

urlpatterns = [
    path("", views.topup_page, name="topup"),
    path("history/", history_views.history, name="history"),
]
