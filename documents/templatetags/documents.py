"""{% billing_details_form %}: the billing details section of the wallet's settings page. The wallet
cannot import documents (layers); its template asks for the section by name instead."""

from django import template

from ..forms import BillingDetailsForm
from ..models import BillingDetails

register = template.Library()


@register.inclusion_tag("documents/_billing_details.html", takes_context=True)
def billing_details_form(context, form=None):
    user = context["request"].user
    if form is None:
        details = BillingDetails.objects.filter(user=user).first()
        form = BillingDetailsForm(instance=details, prefix="details")
    return {"details_form": form, "csrf_token": context.get("csrf_token")}
