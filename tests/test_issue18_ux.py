"""Issue 18, walkthrough items 15, 17 and "Smaller": what a person reads on the pages (view level;
focus and layout are checked in Chromium in tests/e2e/test_issue18_ux_browser.py)."""

import uuid
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from wallet import services
from wallet.exceptions import PaymentDeclined

pytestmark = pytest.mark.django_db


class _Tree(HTMLParser):
    """Each element's tag, attributes and its parent's tag and attributes."""

    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "path", "area", "col", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, dict]] = [("#root", {})]
        self.elements: list[tuple[str, dict, str, dict]] = []

    def handle_starttag(self, tag, attrs):
        parent_tag, parent_attrs = self.stack[-1]
        self.elements.append((tag, dict(attrs), parent_tag, parent_attrs))
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def elements(html: str):
    tree = _Tree()
    tree.feed(html)
    return tree.elements


# --- 17: flash messages pass axe ----------------------------------------------------------------


def test_flash_messages_are_one_status_region_that_is_not_a_list(auth_client):
    resp = auth_client.post("/accounts/", {"username": "Alice"}, follow=True)
    html = resp.content.decode()
    assert "Your display name was saved." in html
    found = elements(html)
    # role=status is not allowed on <ul> (axe aria-allowed-role), and a <ul> with a role is no list
    # for its <li>s (axe listitem).
    statuses = [(tag, attrs) for tag, attrs, _, _ in found if attrs.get("role") == "status"]
    assert statuses and all(tag in {"div", "section", "p"} for tag, _ in statuses)
    for tag, _attrs, parent_tag, parent_attrs in found:
        if tag == "li":
            assert parent_tag in {"ul", "ol"} and "role" not in parent_attrs


# --- 18: a decline says nothing was charged -----------------------------------------------------


@pytest.mark.parametrize(
    "stripe_text, shown",
    [
        ("Your card was declined.", "Your card was declined. Nothing was charged."),
        ("Your card has insufficient funds.", "Your card has insufficient funds. Nothing was charged."),
        ("Your card was declined", "Your card was declined. Nothing was charged."),
        ("", "Your card was declined. Nothing was charged."),
    ],
)
def test_a_decline_says_nothing_was_charged(stripe_text, shown):
    assert PaymentDeclined(stripe_text).user_message == shown
    assert PaymentDeclined().user_message == "Your card was declined. Nothing was charged."


# --- 18: one wording for negative amounts ("−1,500.00 AED", U+2212) --------------------------------


def test_the_admin_writes_a_debit_as_everywhere_else(make_user):
    customer = make_user(balance=Decimal("2000.00"))
    entry = services.debit(user=customer, amount=Decimal("1500.00"), type=services.TxType.AGENT_USAGE,
                           description="run")
    staff = Client()
    staff.force_login(make_user(is_staff=True, is_superuser=True))
    html = staff.get(reverse("admin:wallet_wallettransaction_change", args=[entry.pk])).content.decode()
    assert "\u22121,500.00 AED" in html and "500.00 AED" in html
    assert "-1500.00" not in html and "-1,500.00" not in html


# --- 15 / 18: the spend limit on the agent page --------------------------------------------------


@pytest.fixture
def limited(make_user, make_agent, auth_client, user):
    """The logged-in user with 100.00 AED, a monthly spend limit of 10.00 AED and a 4.00 AED agent."""
    from wallet.models import BillingSettings

    services.credit(user=user, amount=Decimal("100.00"), type=services.TxType.ADJUSTMENT, description="funds")
    BillingSettings.objects.create(user=user, monthly_spend_limit=Decimal("10.00"))
    return make_agent(slug="chk", price=Decimal("4.00"))


def run(client, slug="chk", text="http://paypa1.com"):
    from tests.helpers import use_agent

    return use_agent(client, slug, text)


def test_failed_runs_that_cost_nothing_do_not_count_towards_the_limit(auth_client, user, limited):
    from agents.models import AgentRun

    # Four inline runs that failed before any charge (no ledger row): 16.00 AED at list price.
    for _ in range(4):
        AgentRun.objects.create(user=user, agent=limited, price=limited.price, status=AgentRun.Status.FAILED,
                                request_id=uuid.uuid4(), error_message="The agent failed.",
                                finished_at=timezone.now())
    answer = run(auth_client)
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"
    assert answer.json()["month_spent"] == "4.00"


def test_refunded_runs_do_not_count_and_the_month_comes_from_the_ledger(user, limited):
    from agents import services as agent_services

    services.debit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_USAGE, description="run")
    services.credit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_REFUND, description="refund")
    services.debit(user=user, amount=Decimal("3.00"), type=services.TxType.AGENT_USAGE, description="run")
    assert agent_services.month_spent(user_id=user.pk) == Decimal("3.00")


def test_a_runs_answer_carries_the_months_spending_and_limit(auth_client, limited):
    body = run(auth_client).json()
    assert (body["month_spent"], body["spend_limit"]) == ("4.00", "10.00")
    assert "This month: 4.00 AED of your 10.00 AED spend limit used." in body["spend_html"]
    second = run(auth_client).json()
    assert second["month_spent"] == "8.00"
    # 8.00 used, a run costs 4.00: the line turns into the notice with the way out.
    assert "data-spend-over" in second["spend_html"] and "Raise the limit in your billing settings" in second["spend_html"]


def test_the_page_says_the_limit_leaves_too_little_before_the_click(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    html = auth_client.get("/agents/chk/").content.decode()
    assert "This month: 8.00 AED of your 10.00 AED spend limit used, and a run costs 4.00 AED." in html
    buttons = [attrs for tag, attrs, _, _ in elements(html) if "data-agent-submit" in attrs]
    assert len(buttons) == 1 and "disabled" in buttons[0]
    assert html.count('href="/wallet/settings/"') == 2  # the nav's "Billing" and the notice's one link
    # Room for a run: the button is live and the line is a plain usage line.
    services.credit(user=user, amount=Decimal("4.00"), type=services.TxType.AGENT_REFUND, description="refund")
    html = auth_client.get("/agents/chk/").content.decode()
    buttons = [attrs for tag, attrs, _, _ in elements(html) if "data-agent-submit" in attrs]
    assert "disabled" not in buttons[0] and "data-spend-over" not in html


def test_the_refusal_names_the_billing_settings_once(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    refused = run(auth_client)
    assert refused.status_code == 402
    body = refused.json()
    words = (body["error"] + " " + body["settings_label"]).lower()
    assert words.count("billing settings") == 1
    assert body["error"] == "This run would go over your monthly spend limit of 10.00 AED (8.00 AED used this month)."
    assert body["spend_html"].lower().count("billing settings") == 1


# --- 18: a refund shows on its top-up's row in the wallet's recent list ---------------------------


def _recent_rows(html: str) -> list[str]:
    body = html.split('class="topup-list"', 1)[1].split("</ul>", 1)[0]
    return body.split('class="topup-row"')[1:]


def test_a_partial_and_a_full_refund_show_on_the_top_ups_row(auth_client, user, make_user, stripe_sandbox):
    from wallet.models import CardRefund

    staff = make_user(is_staff=True, is_superuser=True)

    def settled(amount):
        return services.start_topup(
            user=user, amount=amount, payment_method_id="pm_card_visa", idempotency_key=uuid.uuid4().hex
        ).topup

    partly, fully = settled("100.00"), settled("30.00")
    for topup, amount in ((partly, "20.00"), (fully, "30.00")):
        refund = services.refund_topup(topup=topup, amount=amount, reason="ticket", staff=staff,
                                       customer_reason=CardRefund.CustomerReason.REQUESTED)
        assert refund.status == CardRefund.Status.SUCCEEDED
    newest, older = _recent_rows(auth_client.get("/wallet/").content.decode())
    assert "30.00 AED" in newest and ">Refunded<" in newest and "Refunded 30.00 AED to your card." in newest
    assert "100.00 AED" in older and ">Partly refunded<" in older and "Refunded 20.00 AED to your card." in older
    assert ">Succeeded<" not in older


# --- 18: the history chart with all activity on one day ------------------------------------------


def test_one_day_of_activity_is_a_line_across_the_chart_not_a_dot(auth_client, user):
    import re

    services.credit(user=user, amount=Decimal("150.00"), type=services.TxType.ADJUSTMENT, description="funds")
    services.debit(user=user, amount=Decimal("20.00"), type=services.TxType.AGENT_USAGE, description="run")
    svg = re.search(r'<svg class="balance-chart".*?</svg>', auth_client.get("/wallet/history/").content.decode(),
                    re.S).group(0)
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', svg).group(1).split()
    xs = sorted(float(point.split(",")[0]) for point in points)
    ys = {point.split(",")[1] for point in points}
    left = float(re.search(r'<g class="chart-axis chart-axis-y">\s*<line x1="([\d.]+)"', svg).group(1))
    assert len(points) >= 2 and len(ys) == 1  # flat: one balance, drawn from the left edge...
    assert xs[0] == left and xs[-1] - xs[0] > 500  # ...across the plot
    today = timezone.localdate()
    assert svg.count(f">{today.day} {today:%b}</text>") == 1  # the day labelled once
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg).group(1)
    assert desc == f"End-of-day balance on {today.day} {today:%B %Y}: 130.00 AED."


def test_without_javascript_the_refusal_is_the_pages_notice_not_a_second_message(auth_client, user, limited):
    services.debit(user=user, amount=Decimal("8.00"), type=services.TxType.AGENT_USAGE, description="run")
    form = {"input": "http://paypa1.com", "request_id": str(uuid.uuid4())}
    refused = auth_client.post("/agents/chk/use/", form)
    assert refused.status_code == 302 and refused["Location"] == "/agents/chk/#agent-spend"
    html = auth_client.get("/agents/chk/").content.decode()
    assert 'class="messages"' not in html
    assert html.lower().count("raise the limit in your billing settings") == 1
