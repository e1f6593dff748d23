"""A held account, and one that owes money after a dispute, read why and what to do where the
action would be (wallet top-up form, agent run button, auto-recharge settings), before any click;
the services still refuse on their own (issue 20, follow-up)."""

import json
import uuid
from decimal import Decimal

import pytest

from wallet.models import BillingSettings, OwedBalance
from wallet.services import holds

pytestmark = pytest.mark.django_db

REASON = "We are checking a disputed card payment"


def run(client, agent):
    body = {"input": "http://paypa1.com/", "request_id": str(uuid.uuid4())}
    return client.post(f"/agents/{agent.slug}/use/", json.dumps(body), content_type="application/json")


@pytest.fixture
def held(user):
    holds.hold_account(user=user, reason=REASON, staff=None)
    return user


@pytest.fixture
def owing(user):
    OwedBalance.objects.create(user=user, amount=Decimal("12.40"))
    return user


def test_normal_account_sees_the_forms_and_no_panel(auth_client, user, agent):
    user.add_balance(Decimal("20.00"), description="seed")
    wallet = auth_client.get("/wallet/").content.decode()
    assert 'id="topup-form"' in wallet and 'id="standing-panel"' not in wallet
    page = auth_client.get(f"/agents/{agent.slug}/").content.decode()
    assert "data-agent-submit" in page and 'id="standing-panel"' not in page


def test_held_account_sees_the_panel_instead_of_the_topup_form(auth_client, held):
    page = auth_client.get("/wallet/").content.decode()
    assert 'id="topup-form"' not in page and 'id="topup-submit"' not in page
    assert 'data-standing="held"' in page and "Top-ups are paused" in page and REASON in page
    assert "What to do:" in page
    # The refusal stays on the server: a hand-made request is still refused.
    body = {"amount": "50.00", "payment_method_id": "pm_card_visa", "idempotency_key": str(uuid.uuid4())}
    answer = auth_client.post("/wallet/create-payment-intent/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 403 and answer.json()["code"] == "account_on_hold"


def test_held_account_sees_the_panel_instead_of_the_run_button(auth_client, held, agent):
    held.add_balance(Decimal("20.00"), description="seed")
    page = auth_client.get(f"/agents/{agent.slug}/").content.decode()
    assert "data-agent-submit" not in page and "Agent runs are paused" in page and REASON in page
    assert '<textarea id="agent-input"' in page and "disabled>" in page.split('id="agent-input"')[1].split("</textarea>")[0] + ">"
    answer = run(auth_client, agent)
    assert answer.status_code == 403, answer.content
    assert answer.json()["code"] == "account_on_hold"


def test_owing_account_keeps_the_topup_form_with_what_it_owes(auth_client, owing, agent):
    wallet = auth_client.get("/wallet/").content.decode()
    assert 'id="topup-form"' in wallet and 'data-standing="owed"' in wallet
    assert "You owe 12.40" in wallet and "repays what is owed first" in wallet
    owing.add_balance(Decimal("20.00"), description="seed")
    page = auth_client.get(f"/agents/{agent.slug}/").content.decode()
    assert "data-agent-submit" not in page and "Agent runs are paused" in page
    assert 'href="/wallet/?amount=12.40"' in page and "Top up to repay 12.40" in page
    answer = run(auth_client, agent)
    assert answer.status_code == 403, answer.content
    assert answer.json()["code"] == "account_owes_money"


def test_held_account_cannot_change_auto_recharge_but_can_save_alerts(auth_client, held):
    BillingSettings.objects.create(user=held, auto_recharge_threshold=Decimal("10.00"),
                                   auto_recharge_amount=Decimal("50.00"))
    page = auth_client.get("/wallet/settings/").content.decode()
    assert "Automatic top-ups are paused" in page and REASON in page
    threshold = page.split('name="auto_recharge_threshold"')[1].split(">")[0]
    assert "disabled" in threshold
    # A hand-made post cannot change the auto-recharge fields; the rest saves.
    answer = auth_client.post("/wallet/settings/", {
        "auto_recharge_threshold": "99.00", "auto_recharge_amount": "500.00", "auto_recharge_monthly_limit": "",
        "low_balance_alert": "5.00", "monthly_spend_limit": "",
    })
    assert answer.status_code == 302, answer.content.decode()[:2000]
    saved = BillingSettings.objects.get(pk=held.pk)
    assert (saved.auto_recharge_threshold, saved.auto_recharge_amount) == (Decimal("10.00"), Decimal("50.00"))
    assert saved.low_balance_alert == Decimal("5.00")


def test_owing_account_keeps_its_auto_recharge_settings(auth_client, owing):
    # Owing is repaid by the next top-up, automatic ones too: nothing to pause there.
    page = auth_client.get("/wallet/settings/").content.decode()
    assert 'id="standing-panel"' not in page
    assert "disabled" not in page.split('name="auto_recharge_threshold"')[1].split(">")[0]


def test_recent_topups_say_disputed_not_succeeded(auth_client, user):
    from django.utils import timezone

    from wallet.models import Dispute, TopUp, TxType
    from wallet.services import ledger

    entry = ledger.credit(user=user, amount=Decimal("40.00"), type=TxType.TOP_UP, description="Card top-up",
                          stripe_payment_intent_id="pi_disputed_1")
    topup = TopUp.objects.create(user=user, amount=Decimal("40.00"), currency="AED", idempotency_key=uuid.uuid4().hex,
                                 stripe_payment_intent_id="pi_disputed_1", status=TopUp.Status.SUCCEEDED,
                                 credit_transaction=entry)
    before = auth_client.get("/wallet/").content.decode()
    assert "badge-topup-succeeded" in before and "Disputed" not in before
    Dispute.objects.create(stripe_dispute_id="dp_1", topup=topup, user=user, disputed_amount=Decimal("40.00"),
                           amount=Decimal("40.00"), taken_amount=Decimal("40.00"),
                           status=Dispute.Status.NEEDS_RESPONSE, withdrawn_at=timezone.now())
    page = auth_client.get("/wallet/").content.decode()
    assert "badge-topup-disputed" in page and "Disputed with your bank: 40.00 AED taken back." in page
    Dispute.objects.filter(stripe_dispute_id="dp_1").update(reinstated_at=timezone.now())
    assert "badge-topup-succeeded" in auth_client.get("/wallet/").content.decode()  # won: given back


def test_held_account_is_not_offered_the_promo_code_form(auth_client, held):
    # redeem_code refuses a held account, so the wallet page offers no form that can only fail.
    page = auth_client.get("/wallet/").content.decode()
    assert 'id="promo-form"' not in page and "Have a promo code?" not in page


def test_normal_account_is_offered_the_promo_code_form(auth_client, user):
    assert 'id="promo-form"' in auth_client.get("/wallet/").content.decode()
