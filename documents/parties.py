"""The seller and buyer blocks a document prints, copied onto it when it is issued."""

from __future__ import annotations

from django.conf import settings

from .models import BillingDetails


def seller() -> dict:
    return {
        "name": settings.INVOICE_SELLER_NAME,
        "address": settings.INVOICE_SELLER_ADDRESS,
        "trn": settings.INVOICE_SELLER_TRN,
    }


def buyer(user) -> dict:
    """The customer's billing details now; without any, the account's email names the customer."""
    details = BillingDetails.objects.filter(user_id=user.pk).first()
    if details is None:
        return {"name": user.email, "address": "", "country": "", "trn": "", "email": user.email}
    return {
        "name": details.legal_name or user.email,
        "address": details.address,
        "country": details.country,
        "trn": details.trn,
        "email": details.invoice_email or user.email,
    }


def recipient(user) -> str:
    details = BillingDetails.objects.filter(user_id=user.pk).first()
    return (details.invoice_email if details else "") or user.email
