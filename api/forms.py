from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from authentication.models import ApiKeyScope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="So you can tell your keys apart, e.g. “mail gateway”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKeyScope.WALLET_READ, ApiKeyScope.HISTORY_READ],
        help_text="Grant only what the program needs.",
    )
    expires_on = forms.DateField(
        label="Expires on (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the start of this day. Empty: until you revoke it.",
    )
    monthly_cap = forms.DecimalField(
        label="Monthly spend cap (optional)",
        required=False,
        min_value=0.01,
        max_value=9999999999.99,
        decimal_places=2,
        help_text="Agent runs through this key stop at this amount each calendar month.",
    )

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is not None and not timezone.localdate() < day <= dt.date(2100, 12, 31):
            raise forms.ValidationError("Choose a day after today.")
        return day

    def expires_at(self):
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())
