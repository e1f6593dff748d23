"""Disputes end to end against a real localstripe: Stripe's card 0259 is disputed after it pays, the
dispute reaches the app through a signed webhook or reconciliation, and the money follows it."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from tests.disputes.conftest import DISPUTE_CARD
from tests.helpers import balance_of, use_agent
from wallet import payments, services
from wallet.exceptions import AccountOnHold, AccountOwesMoney, RefundNotAllowed
from wallet.health import check_ledger, money_totals
from wallet.models import Dispute, OwedBalance, TxType, WalletTransaction
from wallet.reconcile import reconcile_topups
from wallet.services import holds
from wallet.services.chargebacks import sync_dispute
from wallet.services.disputes import owed_amount

pytestmark = pytest.mark.django_db


def assert_money_adds_up():
    assert check_ledger().ok
    totals = money_totals()
    assert totals.ok, totals


def spend(user, amount):
    services.debit(user=user, amount=amount, type=TxType.AGENT_USAGE, description="Agent run: test")


def test_dispute_after_spending_takes_the_rest_owes_blocks_and_next_topup_repays(
    user, make_user, client, agent, pay, sandbox_events, mailoutbox, django_capture_on_commit_callbacks
):
    topup = pay(user, "100.00", DISPUTE_CARD)
    # Stripe (the sandbox) opened the dispute when the card paid, and announced it.
    assert sandbox_events.types() == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    spend(user, "70.00")
    with django_capture_on_commit_callbacks(execute=True):
        answers = sandbox_events.deliver(client)
    assert [a.status_code for a in answers] == [200, 200]

    dispute = Dispute.objects.get()
    assert dispute.topup == topup and dispute.reason == "fraudulent"
    assert (dispute.amount, dispute.taken_amount, dispute.owed_amount) == (
        Decimal("100.00"), Decimal("30.00"), Decimal("70.00")
    )
    assert balance_of(user) == Decimal("0.00") and owed_amount(user=user) == Decimal("70.00")
    assert WalletTransaction.objects.filter(user=user, type=TxType.DISPUTE).get().amount == Decimal("-30.00")
    user.refresh_from_db()
    assert user.is_on_hold and "disputed" in user.hold_reason
    # The customer is told what happened and what they can do.
    [email] = [m for m in mailoutbox if "disputed" in m.subject]
    assert email.to == [user.email] and "70.00 AED" in email.body and "reply to this email" in email.body.lower()

    # On hold: no run, no top-up, with words.
    client.force_login(user)
    answer = use_agent(client, agent.slug, "https://example.com")
    assert answer.status_code == 403 and answer.json()["code"] == "account_on_hold"
    assert "on hold" in answer.json()["error"]

    # Released by staff, it still owes: runs and refunds say so.
    staff = make_user(is_staff=True, is_superuser=True)
    assert holds.release_account(user=user, reason="Customer called; bank confirmed the dispute", staff=staff)
    answer = use_agent(client, agent.slug, "https://example.com")
    assert answer.status_code == 403 and answer.json()["code"] == "account_owes_money"
    assert "owes 70.00 AED" in answer.json()["error"] and answer.json()["owed"] == "70.00"
    with pytest.raises(AccountOwesMoney):
        services.refund_topup(topup=topup, amount="1.00", reason="asked", staff=staff)

    # The next top-up repays what is owed first, with a row for each step.
    second = pay(user, "100.00")
    rows = list(WalletTransaction.objects.filter(user=user).order_by("created_at").values_list("type", "amount"))
    assert rows[-2:] == [(TxType.TOP_UP, Decimal("100.00")), (TxType.OWED_REPAYMENT, Decimal("-70.00"))]
    assert balance_of(user) == Decimal("30.00") and owed_amount(user=user) == Decimal("0.00")
    assert second.status == "succeeded"
    answer = use_agent(client, agent.slug, "https://example.com")
    assert answer.status_code == 200, answer.content
    assert_money_adds_up()


def test_dispute_won_gives_back_exactly_what_was_taken_owed_part_included(
    user, client, pay, sandbox_events
):
    topup = pay(user, "100.00", DISPUTE_CARD)
    spend(user, "40.00")
    sandbox_events.deliver(client)
    assert balance_of(user) == Decimal("0.00") and owed_amount(user=user) == Decimal("40.00")

    # Ops submit winning evidence (Stripe's test mode: "winning_evidence" wins the dispute).
    dispute = Dispute.objects.get()
    sandbox_events.events.clear()
    payments.submit_dispute_evidence(dispute.stripe_dispute_id, evidence={"uncategorized_text": "winning_evidence"})
    assert "charge.dispute.funds_reinstated" in sandbox_events.types()
    sandbox_events.deliver(client)

    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.WON and dispute.reinstated_amount == Decimal("100.00")
    # 60 taken come back as a credit; the 40 still owed are cancelled: the wallet is as before.
    assert balance_of(user) == Decimal("60.00") and owed_amount(user=user) == Decimal("0.00")
    assert dispute.reinstatement_transaction.amount == Decimal("60.00")
    assert topup.disputes.count() == 1
    assert_money_adds_up()


def test_won_after_the_owed_part_was_repaid_credits_all_of_it(user, make_user, client, pay, sandbox_events):
    staff = make_user(is_staff=True, is_superuser=True)
    pay(user, "100.00", DISPUTE_CARD)
    spend(user, "40.00")
    sandbox_events.deliver(client)
    holds.release_account(user=user, reason="reviewed", staff=staff)
    pay(user, "50.00")  # repays the 40 owed first
    assert balance_of(user) == Decimal("10.00")
    dispute = Dispute.objects.get()
    sandbox_events.events[:] = []
    payments.submit_dispute_evidence(dispute.stripe_dispute_id, evidence={"uncategorized_text": "winning_evidence"})
    sandbox_events.deliver(client)
    assert balance_of(user) == Decimal("110.00") and owed_amount(user=user) == Decimal("0.00")
    assert_money_adds_up()


def test_replayed_and_out_of_order_dispute_events_apply_once(user, client, pay, sandbox_events):
    pay(user, "100.00", DISPUTE_CARD)
    dispute_id = sandbox_events.events[0][1]["id"]
    payments.submit_dispute_evidence(dispute_id, evidence={"uncategorized_text": "winning_evidence"})
    # Closed (won) arrives first, then the creation, then everything again.
    answers = sandbox_events.deliver(client, reverse=True) + sandbox_events.deliver(client)
    assert all(a.status_code == 200 for a in answers)
    dispute = Dispute.objects.get()
    assert dispute.status == Dispute.Status.WON
    assert WalletTransaction.objects.filter(type=TxType.DISPUTE).count() == 1
    assert WalletTransaction.objects.filter(type=TxType.DISPUTE_REINSTATED).count() == 1
    assert balance_of(user) == Decimal("100.00")
    # A won dispute seen at once puts nobody on hold.
    user.refresh_from_db()
    assert not user.is_on_hold
    assert_money_adds_up()


def test_a_dispute_seen_by_reconcile_only_is_applied_once(user, pay, stripe_sandbox, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""  # no webhook: the sandbox announces nothing
    pay(user, "80.00", DISPUTE_CARD)
    spend(user, "5.00")
    first = reconcile_topups()
    assert any(line.startswith("dispute dp_") for line in first.lines), first.lines
    again = reconcile_topups()
    assert not any(line.startswith("dispute dp_") for line in again.lines)
    assert balance_of(user) == Decimal("0.00") and owed_amount(user=user) == Decimal("5.00")
    assert Dispute.objects.get().amount == Decimal("80.00")
    user.refresh_from_db()
    assert user.is_on_hold
    assert_money_adds_up()
    # Against Stripe as well: every dispute at Stripe is in our books for the same amount.
    at_stripe = payments.list_recent_disputes()
    assert {(d.id, payments.from_minor(d.amount)) for d in at_stripe} == set(
        Dispute.objects.values_list("stripe_dispute_id", "disputed_amount")
    )


def test_dispute_amount_is_capped_by_what_was_refunded_to_the_card(user, make_user, pay, stripe_sandbox):
    staff = make_user(is_staff=True)
    topup = pay(user, "100.00", DISPUTE_CARD)
    services.refund_topup(topup=topup, amount="30.00", reason="asked", staff=staff)
    [dispute] = payments.list_recent_disputes()
    result = sync_dispute(dispute)
    assert result is not None and result.dispute.amount == Decimal("70.00")
    assert balance_of(user) == Decimal("0.00") and owed_amount(user=user) == Decimal("0.00")
    assert_money_adds_up()


def test_held_account_cannot_top_up_and_money_in_flight_still_settles(user, make_user, pay, stripe_sandbox):
    staff = make_user(is_staff=True, is_superuser=True)
    holds.hold_account(user=user, reason="Checking a payment", staff=staff)
    with pytest.raises(AccountOnHold) as raised:
        pay(user, "10.00")
    assert "Checking a payment" in raised.value.user_message and "reply" in raised.value.user_message


def test_check_ledger_command_reports_the_money_invariant(user, client, pay, sandbox_events, capsys):
    pay(user, "100.00", DISPUTE_CARD)
    spend(user, "60.00")
    sandbox_events.deliver(client)
    call_command("check_ledger")
    out = capsys.readouterr().out
    assert "disputes 40.00" in out and "still owed after disputes: 60.00" in out and "Ledger OK." in out
    assert OwedBalance.objects.get(user=user).amount == Decimal("60.00")


def test_a_disputed_top_up_cannot_be_refunded_to_the_card_again(user, make_user, client, pay, sandbox_events):
    staff = make_user(is_staff=True, is_superuser=True)
    topup = pay(user, "100.00", DISPUTE_CARD)
    sandbox_events.deliver(client)
    holds.release_account(user=user, reason="reviewed", staff=staff)
    pay(user, "100.00")  # other money in the wallet
    assert services.refundable_amount(topup) == Decimal("0.00")
    with pytest.raises(RefundNotAllowed):
        services.refund_topup(topup=topup, amount="10.00", reason="asked", staff=staff)
