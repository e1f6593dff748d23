"""Issue 12: money formatted one way everywhere (#11) and the history page's layout and chart (#10)."""

import re
import uuid
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse

from wallet import services
from wallet.models import TopUp, TxType

pytestmark = pytest.mark.django_db

LEDGER = "/admin/wallet/wallettransaction/"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    return client


# --- #11 one money format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected, signed",
    [
        (Decimal("1234.5"), "1,234.50 AED", "+1,234.50 AED"),
        (Decimal("-99999"), "\u221299,999.00 AED", "\u221299,999.00 AED"),
        (Decimal("0"), "0.00 AED", "0.00 AED"),
        ("12.30", "12.30 AED", "+12.30 AED"),
        (None, "", ""),
        ("abc", "", ""),
    ],
)
def test_money_filters_use_format_money(value, expected, signed):
    out = Template("{% load money %}[{{ v|money }}|{{ v|signed_money }}]").render(Context({"v": value}))
    assert out == f"[{expected}|{signed}]"


def test_object_titles_are_money_without_a_user_id(user, make_user):
    row = services.credit(user=user, amount="1234.50", type=TxType.ADJUSTMENT, description="x")
    assert str(row) == "Adjustment +1,234.50 AED"
    debit = services.debit(user=user, amount="1000", type=TxType.AGENT_USAGE)
    assert str(debit) == "Agent usage \u22121,000.00 AED"
    topup = TopUp.objects.create(user=user, amount=Decimal("2500"), currency="AED", idempotency_key="k")
    assert str(topup) == "Top-up 2,500.00 AED (pending)"
    assert f"({user.pk})" not in str(row)


def test_topup_description_uses_format_money(user, stripe_sandbox):
    result = services.start_topup(
        user=user, amount="1000", payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
    )
    assert result.topup.credit_transaction.description == "Card top-up 1,000.00 AED"


def test_admin_ledger_columns_and_totals_have_thousands_separators(admin_client, user):
    services.credit(user=user, amount="12345.60", type=TxType.ADJUSTMENT, description="big")
    services.debit(user=user, amount="1000", type=TxType.AGENT_USAGE)
    body = admin_client.get(LEDGER).content.decode()
    assert "+12,345.60 AED" in body and "\u22121,000.00 AED" in body and "11,345.60 AED" in body
    assert 'data-total="net"><strong>11,345.60 AED' in body
    assert "12345.60" not in body
    change = admin_client.get(reverse("admin:authentication_user_change", args=[user.pk])).content.decode()
    table = re.search(r'<table class="ledger-mini".*?</table>', change, re.S).group(0)
    assert "+12,345.60 AED" in table and "\u22121,000.00 AED" in table
