"""What a person reads about a payment (issue 18, "Smaller"): a decline says nothing was charged; a
refund to the card shows on its top-up's row in the wallet page's recent list."""

import uuid

import pytest

from wallet import services
from wallet.exceptions import PaymentDeclined
from wallet.models import CardRefund

pytestmark = pytest.mark.django_db


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


def _recent_rows(html: str) -> list[str]:
    body = html.split('class="topup-list"', 1)[1].split("</ul>", 1)[0]
    return body.split('class="topup-row"')[1:]


def test_a_partial_and_a_full_refund_show_on_the_top_ups_row(auth_client, user, make_user, stripe_sandbox):
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
