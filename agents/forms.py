"""Admin form for agents: the runner is chosen from the registry and its config is validated."""

from django import forms

from .models import Agent
from .runners import runner_choices


class AgentAdminForm(forms.ModelForm):
    runner = forms.ChoiceField(
        choices=runner_choices, help_text="The code that does the work (agents/runners.py)."
    )

    class Meta:
        model = Agent
        fields = [
            "name", "slug", "description", "price", "is_active", "runner", "config",
            "input_label", "input_placeholder", "sort_order",
        ]

    def clean_price(self):
        price = self.cleaned_data["price"]
        if price is not None and price <= 0:
            raise forms.ValidationError("The price must be greater than zero.")
        return price
