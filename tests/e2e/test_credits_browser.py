"""Credit lots in the browser (issue 23): paid vs promotional on the wallet page, the promo-code form,
history rows saying what was promotional; at 1280 and 375 px. Screenshots go to CREDITS_SHOTS when set."""

import os
import pathlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from wallet import services
from wallet.models import PromoCode, TxType
from wallet.services import credits

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("CREDITS_SHOTS")


def shoot(page, name: str) -> None:
    if SHOTS:
        pathlib.Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.parametrize("width", [1280, 375])
def test_redeem_a_code_and_see_paid_and_promotional(live_server, stripe_sandbox, make_user, login, page, expect,
                                                     width):
    user = make_user(balance=Decimal("40.00"))
    credits.grant(user=user, amount="5.00", reason="Welcome bonus", staff=None,
                  expires_at=timezone.now() + timedelta(days=12))
    PromoCode.objects.create(code="SPRING25", amount=Decimal("25.00"), max_redemptions=10, credit_valid_days=30)
    page.set_viewport_size({"width": width, "height": 900})
    login(user)
    page.goto(f"{live_server.url}/wallet/")
    page.get_by_text("Have a promo code?").click()
    page.get_by_label("Promo code").fill("spring25")
    shoot(page, f"wallet-redeem-form-{width}")
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator(".messages")).to_contain_text("25.00 AED of promotional credit added")
    expect(page.locator("[data-credits-promotional]")).to_contain_text("30.00")
    expect(page.locator("[data-credits-paid]")).to_contain_text("40.00")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, f"wallet-promo-balance-{width}")

    services.debit(user=user, amount="32.00", type=TxType.AGENT_USAGE, description="Agent run: Phishing check")
    page.goto(f"{live_server.url}/wallet/history/")
    expect(page.locator(".history-lots").first).to_contain_text("promotional credit")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, f"history-lots-{width}")
