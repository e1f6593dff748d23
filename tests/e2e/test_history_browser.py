"""History in a real browser: a transaction is shown, the CSV downloads, copy buttons copy."""

import csv
import io
from decimal import Decimal

import pytest

from wallet import services
from wallet.models import TxType

pytestmark = pytest.mark.e2e


@pytest.fixture
def funded_user(make_user):
    person = make_user(email="history@example.com")
    top = services.credit(
        user=person,
        amount=Decimal("120.00"),
        type=TxType.TOP_UP,
        description="Card top-up",
        stripe_payment_intent_id="pi_browser_123",
    )
    use = services.debit(user=person, amount=Decimal("7.50"), type=TxType.AGENT_USAGE, description="=cmd scan")
    return person, top, use


def test_history_shows_transactions_and_downloads_csv(live_server, login, funded_user):
    person, top, use = funded_user
    page = login(person)
    page.goto(f"{live_server.url}/wallet/history/")
    row = page.locator(f'tr[data-tx-id="{use.pk}"]')
    assert "=cmd scan" in row.inner_text()
    assert "\u22127.50 AED" in row.inner_text()
    assert "+120.00 AED" in page.locator(f'tr[data-tx-id="{top.pk}"]').inner_text()
    assert "112.50 AED" in page.locator("[data-history-balance]").inner_text()
    # The account is a day old: the chart starts at its first activity, not 29 days of zeros.
    assert page.locator("svg.balance-chart title").first.text_content().startswith("Wallet balance since ")

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("netcop-wallet-history-")
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as fh:
        lines = list(csv.reader(io.StringIO(fh.read())))
    assert lines[0][:2] == ["Date", "Transaction ID"]
    assert [line[1] for line in lines[1:]] == [str(use.pk), str(top.pk)]
    assert lines[1][3] == "'=cmd scan" and lines[1][4] == "-7.50"


def test_copy_buttons_copy_and_confirm(live_server, login, funded_user, page):
    person, top, use = funded_user
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login(person)
    page.goto(f"{live_server.url}/wallet/history/")

    page.locator(f'tr[data-tx-id="{use.pk}"] button[data-copy]').click()
    status = page.locator("#copy-status")
    status.filter(has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == str(use.pk)
    assert page.locator(f'tr[data-tx-id="{use.pk}"] button[data-copy]').inner_text() == "Copied"

    # The Stripe id of the top-up, by keyboard.
    intent_button = page.get_by_role("button", name="Copy payment ID: Stripe pi_browser_123")
    intent_button.focus()
    page.keyboard.press("Enter")
    status.filter(has_text="pi_browser_123").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "pi_browser_123"

    # Without the async clipboard API the hidden-textarea fallback still copies.
    page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    page.locator(f'tr[data-tx-id="{top.pk}"] button[data-copy="{top.pk}"]').click()
    status.filter(has_text=str(top.pk)).wait_for()
    assert "Copied" in status.inner_text()


def test_history_fits_a_phone(live_server, login, funded_user, page):
    person, _, _ = funded_user
    login(person)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/wallet/history/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.locator("svg.balance-chart").bounding_box()["width"] <= 375


def test_history_rows_are_cards_on_a_phone(live_server, login, funded_user, page):
    person, top, use = funded_user
    for i in range(3):
        services.debit(
            user=person, amount=Decimal("0.25"), type=TxType.AGENT_USAGE,
            description=f"A rather long agent description that would push a table sideways #{i}",
        )
    services.debit(user=person, amount=Decimal("10.00"), type=TxType.CARD_REFUND, description="Refund to card")
    login(person)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/wallet/history/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    row = page.locator(f'tr[data-tx-id="{use.pk}"]')
    # A card: the row is a grid, the column headers are hidden, and every cell is on screen.
    assert row.evaluate("el => getComputedStyle(el).display") == "grid"
    assert page.locator(".history-table thead").bounding_box()["height"] <= 1
    amount = row.locator(".history-amount").bounding_box()
    assert amount["x"] >= 0 and amount["x"] + amount["width"] <= 375
    assert "\u22127.50 AED" in row.locator(".history-amount").inner_text()
    assert "Balance 112.50 AED" in row.locator(".history-after").inner_text()
    # Badges stay on one line, even "Refund to card".
    for badge in page.locator(".history-table .badge").all():
        box = badge.bounding_box()
        assert box["height"] < 28, badge.inner_text()
    # Nothing in the table scrolls sideways inside its wrapper either.
    assert page.locator(".history-table-wrap").evaluate("el => el.scrollWidth <= el.clientWidth")


def test_chart_points_show_date_and_balance_on_hover(live_server, login, funded_user, page):
    person, _, _ = funded_user
    login(person)
    page.goto(f"{live_server.url}/wallet/history/")
    hit = page.locator(".chart-hit").last
    hit.hover()
    tip = page.locator(".chart-tooltip")
    tip.wait_for(state="visible")
    assert tip.inner_text().endswith(": 112.50 AED")
