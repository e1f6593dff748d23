from django.urls import path

from . import history_views, views, webhooks

app_name = "wallet"

urlpatterns = [
    path("", views.topup_page, name="topup"),
    path("create-payment-intent/", views.create_payment_intent, name="create_payment_intent"),
    path("confirm-payment/", views.confirm_payment, name="confirm_payment"),
    path("topups/<uuid:topup_id>/authenticate/", views.resume_topup, name="resume_topup"),
    path("topups/<uuid:topup_id>/cancel/", views.cancel_topup, name="cancel_topup"),
    path("balance.json", views.balance, name="balance"),
    path("history/", history_views.history, name="history"),
    path("history/export.csv", history_views.history_csv, name="history_csv"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
]
