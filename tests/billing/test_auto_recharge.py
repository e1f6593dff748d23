"""Issue 14: saved cards, auto-recharge, low-balance alert (services and views against localstripe)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from wallet import payments, services
from wallet.emails import AUTO_RECHARGE_FAILED, AUTO_RECHARGE_LIMIT, AUTO_RECHARGE_PAUSED, LOW_BALANCE
from wallet.models import BillingSettings, SentEmail, TopUp, TxType
from wallet.services import billing

# Real commits: the recharge task and the emails run on commit (the immediate task backend).
pytestmark = pytest.mark.django_db(transaction=True)

SECURE_3DS = "4000002500003155"
DECLINED = "4000000000000341"


def spend(user, amount):
    return services.debit(user=user, amount=amount, type=TxType.AGENT_USAGE, description="test spend")


def save_card(user, stripe_sandbox, number="4242424242424242", amount="20.00"):
    """Top up once with save_card (the way the page does) and return the settled result."""
    import uuid

    result = services.start_topup(
        user=user, amount=amount, payment_method_id=stripe_sandbox.card(number),
        idempotency_key=str(uuid.uuid4()), save_card=True,
    )
    return result


def arm(user, *, threshold="50.00", amount="100.00", monthly_limit=None, **extra):
    values = {
        "auto_recharge_enabled": True,
        "auto_recharge_threshold": Decimal(threshold),
        "auto_recharge_amount": Decimal(amount),
        "auto_recharge_monthly_limit": None if monthly_limit is None else Decimal(monthly_limit),
        "low_balance_alert": None,
        "monthly_spend_limit": None,
        **extra,
    }
    return billing.save_settings(user=user, values=values)


def balance(user):
    user.refresh_from_db(fields=["wallet_balance"])
    return user.wallet_balance


def test_a_saved_card_is_attached_to_the_users_customer(user, stripe_sandbox):
    result = save_card(user, stripe_sandbox)
    assert result.topup.status == TopUp.Status.SUCCEEDED
    settings_row = BillingSettings.objects.get(pk=user.pk)
    assert settings_row.stripe_customer_id.startswith("cus_")
    cards = billing.saved_cards(user=user)
    assert [c.id for c in cards] == [settings_row.auto_recharge_payment_method]
    assert cards[0].last4 == "4242"
    # A second saved card reuses the same Customer.
    save_card(user, stripe_sandbox, amount="10.00")
    assert BillingSettings.objects.get(pk=user.pk).stripe_customer_id == settings_row.stripe_customer_id
    assert len(billing.saved_cards(user=user)) == 2


def test_without_save_card_no_customer_is_created(user, stripe_sandbox):
    import uuid

    services.start_topup(user=user, amount="20.00", payment_method_id=stripe_sandbox.card(),
                         idempotency_key=str(uuid.uuid4()))
    assert not BillingSettings.objects.filter(pk=user.pk, stripe_customer_id__isnull=False).exists()


def test_crossing_the_threshold_recharges_once_and_exactly(user, stripe_sandbox):
    save_card(user, stripe_sandbox, amount="60.00")
    arm(user)
    spend(user, "5.00")  # 55.00: above the threshold, nothing happens
    assert not TopUp.objects.filter(is_automatic=True).exists()
    spend(user, "30.00")  # 25.00 < 50.00: the (immediate) task recharges 100.00
    auto = TopUp.objects.get(is_automatic=True)
    assert auto.status == TopUp.Status.SUCCEEDED and auto.amount == Decimal("100.00")
    assert balance(user) == Decimal("125.00")
    spend(user, "70.00")  # 55.00: still above
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    call_command("check_ledger")


def test_one_charge_never_exceeds_the_configured_amount(user, stripe_sandbox):
    """Far below the threshold: one charge of the configured amount, never rounded up to close the
    gap without consent (issue 18: an amount of 2.00 charged 10,000 AED)."""
    save_card(user, stripe_sandbox, amount="300.00")
    arm(user, threshold="250.00", amount="40.00")
    spend(user, "290.00")  # 10.00: 240.00 short, yet only the 40.00 configured
    auto = TopUp.objects.get(is_automatic=True)
    assert auto.amount == Decimal("40.00")
    assert balance(user) == Decimal("50.00")
    call_command("check_ledger")


def test_the_configured_amount_is_charged_whatever_the_gap(settings):
    row = BillingSettings(user_id=1, auto_recharge_threshold=Decimal("1000"), auto_recharge_amount=Decimal("2"))
    amount, note = billing.recharge_amount(billing=row, balance=Decimal("0"))
    assert amount == Decimal("2.00") and note == ""


def test_recharge_reduced_to_fit_the_wallet_limit_and_blocked_when_nothing_fits(user, stripe_sandbox, settings):
    settings.WALLET_MAX_BALANCE = Decimal("150.00")
    row = BillingSettings(user_id=user.pk, auto_recharge_threshold=Decimal("100"),
                          auto_recharge_amount=Decimal("100"))
    amount, note = billing.recharge_amount(billing=row, balance=Decimal("90"))
    assert amount == Decimal("60.00") and "reduced to 60.00 AED" in note and "wallet limit" in note
    settings.WALLET_MAX_BALANCE = Decimal("91.00")
    amount, note = billing.recharge_amount(billing=row, balance=Decimal("90"))
    assert amount == 0 and note.startswith("No automatic top-up was made")


def test_monthly_cap_reached_means_no_more_recharges_this_month(user, stripe_sandbox):
    save_card(user, stripe_sandbox, amount="60.00")
    arm(user, amount="100.00", monthly_limit="150.00")
    spend(user, "20.00")  # 40 -> +100 = 140
    spend(user, "100.00")  # 40 -> only 50.00 left under the cap: reduced to 50.00 -> 90
    amounts = sorted(TopUp.objects.filter(is_automatic=True).values_list("amount", flat=True))
    assert amounts == [Decimal("50.00"), Decimal("100.00")]
    assert balance(user) == Decimal("90.00")
    spend(user, "50.00")  # 40 again: nothing left this month
    assert TopUp.objects.filter(is_automatic=True).count() == 2
    notice = BillingSettings.objects.get(pk=user.pk).auto_recharge_notice
    assert "monthly auto-recharge limit of 150.00 AED" in notice and notice.startswith("No automatic")
    month = billing.month_start().strftime("%Y-%m")
    assert SentEmail.objects.filter(key=f"{AUTO_RECHARGE_LIMIT}:{user.pk}:{month}").exists()
    assert any("limit reached" in m.subject for m in mail.outbox)
    assert balance(user) == Decimal("40.00")
    call_command("check_ledger")


def test_3ds_card_fails_off_session_credits_nothing_and_emails_a_link(user, stripe_sandbox, settings):
    settings.SITE_URL = "https://wallet.example"
    result = save_card(user, stripe_sandbox, number=SECURE_3DS, amount="60.00")
    # On-session the page would run 3-D Secure; here it is completed by the test (the cardholder).
    if result.topup.status == TopUp.Status.REQUIRES_ACTION:
        intent = payments.retrieve_intent(result.topup.stripe_payment_intent_id)
        stripe_sandbox.authenticate(intent.id, result.client_secret)
        services.finish_topup(user=user, intent_id=intent.id)  # as the page does after 3-D Secure
    pm = payments.list_saved_cards(customer=billing.settings_for(user.pk).stripe_customer_id)[0].id
    assert billing.settings_for(user.pk).auto_recharge_payment_method == pm
    arm(user)
    before = balance(user)
    mail.outbox.clear()
    spend(user, "20.00")
    auto = TopUp.objects.get(is_automatic=True)
    assert auto.status == TopUp.Status.FAILED and "confirm" in auto.failure_reason
    assert balance(user) == before - Decimal("20.00")  # nothing credited
    assert SentEmail.objects.filter(key=f"{AUTO_RECHARGE_FAILED}:{auto.pk}").exists()
    [email] = mail.outbox
    assert "https://wallet.example/wallet/" in email.body and "failed" in email.subject
    row = BillingSettings.objects.get(pk=user.pk)
    assert row.auto_recharge_failures == 1 and row.auto_recharge_retry_after > timezone.now()
    call_command("check_ledger")


def test_a_decline_backs_off_then_three_failures_pause_with_one_email(user, stripe_sandbox, settings):
    save_card(user, stripe_sandbox, amount="60.00")
    arm(user)
    row = BillingSettings.objects.get(pk=user.pk)
    # The saved card now declines (another card the customer saved that fails).
    declined = stripe_sandbox.card(DECLINED)
    payments.attach_payment_method(payment_method=declined, customer=row.stripe_customer_id)
    billing.use_card(user=user, payment_method=declined)
    mail.outbox.clear()
    spend(user, "20.00")
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.FAILED).count() == 1
    # Back-off: more debits below the threshold make no new attempt (no retry storm).
    spend(user, "1.00")
    spend(user, "1.00")
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    for _ in range(2):  # the back-off passes twice
        BillingSettings.objects.filter(pk=user.pk).update(auto_recharge_retry_after=timezone.now())
        spend(user, "1.00")
    row.refresh_from_db()
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.FAILED).count() == 3
    assert row.auto_recharge_paused_at is not None and row.auto_recharge_failures == 3
    assert [m.subject for m in mail.outbox].count("NetCop Wallet: automatic top-ups are paused") == 1
    assert SentEmail.objects.filter(key__startswith=f"{AUTO_RECHARGE_PAUSED}:{user.pk}:").count() == 1
    # Paused: no attempt even after the back-off.
    BillingSettings.objects.filter(pk=user.pk).update(auto_recharge_retry_after=None)
    spend(user, "1.00")
    assert TopUp.objects.filter(is_automatic=True).count() == 3
    # Saving the settings does not re-arm it; choosing another card ends the pause, and the explicit
    # resume charges (the good card again) at once.
    arm(user)
    assert TopUp.objects.filter(is_automatic=True).count() == 3
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_paused_at is not None
    good = [c.id for c in billing.saved_cards(user=user) if c.id != declined][0]
    billing.use_card(user=user, payment_method=good)
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_paused_at is None
    billing.resume_auto_recharge(user=user)
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.SUCCEEDED).count() == 1
    assert BillingSettings.objects.get(pk=user.pk).auto_recharge_failures == 0
    call_command("check_ledger")


def test_low_balance_alert_once_per_crossing(make_user):
    user = make_user(balance=Decimal("100.00"))
    BillingSettings.objects.create(user=user, low_balance_alert=Decimal("50.00"))
    spend(user, "30.00")
    assert not mail.outbox
    spend(user, "30.00")  # 70 -> 40: crossing
    spend(user, "10.00")  # still below: no repeat
    assert len(mail.outbox) == 1 and "below 50.00 AED" in mail.outbox[0].subject
    services.credit(user=user, amount="20.00", type=TxType.ADJUSTMENT, description="back above")  # 50
    spend(user, "1.00")  # 49: a new crossing
    assert len(mail.outbox) == 2
    assert SentEmail.objects.filter(key__startswith=f"{LOW_BALANCE}:").count() == 2


def test_runaway_recharges_are_logged_at_warning(user, settings, caplog):
    settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR = 1
    entry = services.credit(user=user, amount="10", type=TxType.ADJUSTMENT)
    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="s0",
                         is_automatic=True, status=TopUp.Status.SUCCEEDED, credit_transaction=entry)
    with caplog.at_level("WARNING"):
        billing.warn_if_runaway(user_id=user.pk)
    assert not [r for r in caplog.records if "runaway" in r.message]  # one: within the limit
    entry = services.credit(user=user, amount="10", type=TxType.ADJUSTMENT)
    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="s1",
                         is_automatic=True, status=TopUp.Status.SUCCEEDED, credit_transaction=entry)
    with caplog.at_level("WARNING"):
        billing.warn_if_runaway(user_id=user.pk)
    assert any("runaway auto-recharge" in r.message and r.levelname == "WARNING" for r in caplog.records)


def test_failed_attempts_count_towards_the_runaway_filter(user, settings, caplog, admin_client):
    """Issue 18, item 9: a card declined again and again is a runaway too (the log and the admin)."""
    settings.AUTO_RECHARGE_RUNAWAY_PER_HOUR = 1
    BillingSettings.objects.create(user=user)
    for i in range(2):
        TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key=f"f{i}",
                             is_automatic=True, status=TopUp.Status.FAILED)
    with caplog.at_level("WARNING"):
        billing.warn_if_runaway(user_id=user.pk)
    assert any("runaway auto-recharge" in r.message for r in caplog.records)
    page = admin_client.get("/admin/wallet/billingsettings/?runaway=yes")
    assert page.status_code == 200 and user.email in page.content.decode()


def test_a_lost_answer_keeps_the_recharge_in_flight_until_reconciliation_settles_it(
    user, stripe_sandbox, monkeypatch
):
    """Stripe charged, but its answer never arrived: the automatic TopUp stays pending (blocking a
    second recharge), and reconcile_topups finds the intent by its metadata and credits it once."""
    from datetime import timedelta

    from wallet.exceptions import PaymentProviderUnavailable
    from wallet.reconcile import reconcile_topups

    save_card(user, stripe_sandbox, amount="60.00")
    arm(user)
    real = payments.charge_saved_card

    def lost(**kwargs):
        real(**kwargs)
        raise PaymentProviderUnavailable("timeout")

    monkeypatch.setattr(payments, "charge_saved_card", lost)
    spend(user, "20.00")
    auto = TopUp.objects.get(is_automatic=True)
    assert auto.status == TopUp.Status.PENDING and auto.stripe_payment_intent_id is None
    spend(user, "5.00")  # in flight: no second recharge
    billing.run_auto_recharge(user_id=user.pk)
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    assert balance(user) == Decimal("35.00")
    reconcile_topups(older_than=timedelta(0), limit=50)
    auto.refresh_from_db()
    assert auto.status == TopUp.Status.SUCCEEDED and balance(user) == Decimal("135.00")
    call_command("check_ledger")


def test_the_database_allows_one_automatic_recharge_in_flight_per_user(user, make_user):
    """Written past the service: a second pending automatic TopUp for the same user is refused."""
    from django.db import IntegrityError, transaction

    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="a1", is_automatic=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="a2",
                             is_automatic=True, status=TopUp.Status.REQUIRES_ACTION)
    # Not automatic, another user, or the first one finished: allowed.
    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="m1")
    TopUp.objects.create(user=make_user(), amount=Decimal("10"), currency="AED", idempotency_key="a1",
                         is_automatic=True)
    TopUp.objects.filter(idempotency_key="a1", user=user).update(status=TopUp.Status.FAILED)
    TopUp.objects.create(user=user, amount=Decimal("10"), currency="AED", idempotency_key="a3", is_automatic=True)
