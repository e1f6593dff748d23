"""Issue 18, walkthrough items 15, 17 and "Smaller": what a person reads on the pages (view level;
focus and layout are checked in Chromium in tests/e2e/test_issue18_ux_browser.py)."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

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
