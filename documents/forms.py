"""The billing details form (shown on the billing settings page, saved by documents.views)."""

from __future__ import annotations

import re

from django import forms

from .models import BillingDetails


class BillingDetailsForm(forms.ModelForm):
    # Longer than the column: spaces and dashes are accepted here and dropped by clean_trn.
    trn = forms.CharField(
        label="Tax Registration Number (TRN)", max_length=30, required=False,
        help_text="Optional: 15 digits, if you are registered for VAT in the UAE.",
    )

    class Meta:
        model = BillingDetails
        fields = ["legal_name", "address", "country", "trn", "invoice_email"]
        labels = {"legal_name": "Company or legal name", "trn": "Tax Registration Number (TRN)"}
        help_texts = {
            "legal_name": "As it should appear on invoices. Blank: your account's email.",
            "trn": "Optional: 15 digits, if you are registered for VAT in the UAE.",
            "invoice_email": "Statements are sent here. Blank: your account's email.",
        }
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}

    def clean_trn(self):
        # People paste TRNs with spaces or dashes ("100-1234-5678-90003"): digits are what count.
        value = re.sub(r"[\s-]", "", self.cleaned_data.get("trn") or "")
        if value and not re.fullmatch(r"[0-9]{15}", value):
            raise forms.ValidationError("A Tax Registration Number is 15 digits, e.g. 100123456700003.")
        return value

    def clean(self):
        data = super().clean() or {}
        for name in ("legal_name", "address", "country"):
            if name in data:
                data[name] = data[name].strip()
        return data
