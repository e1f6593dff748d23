from django.urls import path

from . import billing_views, credit_views, history_views, views, webhooks

app_name = "wallet"

urlpatterns = [
    path("", views.topup_page, name="topup"),
    path("create-payment-intent/", views.create_payment_intent, name="create_payment_intent"),
    path("confirm-payment/", views.confirm_payment, name="confirm_payment"),
    path("topups/<uuid:topup_id>/authenticate/", views.resume_topup, name="resume_topup"),
    path("topups/<uuid:topup_id>/cancel/", views.cancel_topup, name="cancel_topup"),
    path("settings/", billing_views.settings_page, name="settings"),
    path("settings/resume/", billing_views.resume_auto_recharge, name="resume_auto_recharge"),
    path("settings/cards/<str:payment_method>/use/", billing_views.use_card, name="use_card"),
    path("settings/cards/<str:payment_method>/remove/", billing_views.remove_card, name="remove_card"),
    path("balance.json", views.balance, name="balance"),
    path("promo/redeem/", credit_views.redeem_promo, name="redeem_promo"),  # issue 23
    path("history/", history_views.history, name="history"),
    path("history/export.csv", history_views.history_csv, name="history_csv"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
]
