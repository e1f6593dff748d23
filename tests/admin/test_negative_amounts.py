"""One wording for negative amounts (issue 18): "\u22121,500.00 AED" with the real minus sign, in the
admin as everywhere else (the page's script: tests/e2e/test_issue18_ux_browser.py)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from wallet import services

pytestmark = pytest.mark.django_db


def test_the_admin_writes_a_debit_as_everywhere_else(make_user):
    customer = make_user(balance=Decimal("2000.00"))
    entry = services.debit(user=customer, amount=Decimal("1500.00"), type=services.TxType.AGENT_USAGE,
                           description="run")
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    html = staff.get(reverse("admin:wallet_wallettransaction_change", args=[entry.pk])).content.decode()
    assert "\u22121,500.00 AED" in html and "500.00 AED" in html
    assert "-1500.00" not in html and "-1,500.00" not in html
