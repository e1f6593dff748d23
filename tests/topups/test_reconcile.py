"""reconcile_topups against a real localstripe: settle, fail, cancel, claim, dry run, the command."""

import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import authenticated_but_unconfirmed
from wallet import payments, reconcile, services
from wallet.models import TopUp, TxType, WalletTransaction

pytestmark = pytest.mark.django_db

NOW = timedelta(0)


def run(**kwargs):
    return reconcile.reconcile_topups(**{"older_than": NOW, "limit": 100, "dry_run": False, **kwargs})


def waiting_3ds(user, sandbox, amount="15.00"):
    result = services.start_topup(
        user=user, amount=amount, payment_method_id=sandbox.card("4000002500003155"),
        idempotency_key=uuid.uuid4().hex,
    )
    assert result.status == TopUp.Status.REQUIRES_ACTION
    return result.topup


def test_unconfirmed_3ds_payment_is_credited_once(user, stripe_sandbox):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    report = run()
    assert report.credited == 1 and report.errors == 0
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED
    again = run()
    assert again.candidates == 0 and again.credited == 0
    assert WalletTransaction.objects.filter(type=TxType.TOP_UP).count() == 1
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("25.00")


def test_recent_rows_are_left_to_the_browser(user, stripe_sandbox):
    authenticated_but_unconfirmed(user, stripe_sandbox)
    report = run(older_than=timedelta(minutes=2))
    assert report.candidates == 0
    assert not WalletTransaction.objects.exists()


def test_waiting_for_3ds_is_left_alone_until_abandoned(user, stripe_sandbox, settings):
    topup = waiting_3ds(user, stripe_sandbox)
    report = run()
    assert report.counts == {"waiting": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.REQUIRES_ACTION

    settings.TOPUP_ABANDON_AFTER = timedelta(0)
    report = run()
    assert report.counts == {"canceled": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CANCELED
    assert payments.retrieve_intent(topup.stripe_payment_intent_id).status == "canceled"


def test_failed_authentication_is_marked_failed(user, stripe_sandbox):
    topup = waiting_3ds(user, stripe_sandbox)
    intent = payments.retrieve_intent(topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=False)
    assert run().counts == {"failed": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and not WalletTransaction.objects.exists()


def test_topup_whose_intent_never_existed(user, stripe_sandbox, settings):
    topup = TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="never")
    assert run().counts == {"waiting": 1}  # younger than TOPUP_UNSTARTED_AFTER (1h)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING

    settings.TOPUP_UNSTARTED_AFTER = timedelta(0)
    assert run().counts == {"failed": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and topup.failure_reason == "Payment could not be started."


def test_dry_run_changes_nothing(user, stripe_sandbox, settings):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox)
    settings.TOPUP_ABANDON_AFTER = timedelta(0)
    waiting = waiting_3ds(user, stripe_sandbox)
    before = {t.pk: (t.status, t.updated_at) for t in TopUp.objects.all()}
    report = run(dry_run=True)
    assert report.candidates == 2 and report.dry_run
    assert any("would credit" in line for line in report.lines)
    assert any("would cancel" in line for line in report.lines)
    assert {t.pk: (t.status, t.updated_at) for t in TopUp.objects.all()} == before
    assert not WalletTransaction.objects.exists()
    assert payments.retrieve_intent(waiting.stripe_payment_intent_id).status == "requires_action"
    assert topup.pk in before


def test_limit_and_rows_held_by_another_run(user, stripe_sandbox, monkeypatch):
    first = authenticated_but_unconfirmed(user, stripe_sandbox)
    second = authenticated_but_unconfirmed(user, stripe_sandbox)
    assert run(limit=1).credited == 1
    # Another run "claims" the remaining row between our read and our claim.
    real_claim = reconcile._claim

    def other_run_got_it(model, pk, seen, now):
        model.objects.filter(pk=pk).update(updated_at=now)  # the other run's claim
        return real_claim(model, pk, seen, now)

    monkeypatch.setattr(reconcile, "_claim", other_run_got_it)
    report = run()
    assert report.candidates == 1 and report.skipped == 1 and report.credited == 0
    monkeypatch.undo()
    assert run().credited == 1
    assert {first.pk, second.pk} == set(
        TopUp.objects.filter(status=TopUp.Status.SUCCEEDED).values_list("pk", flat=True)
    )


def test_command_prints_what_it_did(user, stripe_sandbox):
    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    out = StringIO()
    call_command("reconcile_topups", "--older-than", "0s", "--limit", "10", stdout=out)
    text = out.getvalue()
    assert f"topup {topup.pk}" in text and "credited 25.00 AED" in text
    assert "1 candidate(s): 1 credited" in text and "Reconcile OK." in text

    out = StringIO()
    call_command("reconcile_topups", "--older-than", "0s", "--dry-run", stdout=out)
    assert "Dry run: 0 candidate(s): nothing to do" in out.getvalue()


def test_command_rejects_bad_arguments(db):
    with pytest.raises(CommandError, match="Not a duration"):
        call_command("reconcile_topups", "--older-than", "soon")
    with pytest.raises(CommandError, match="--limit"):
        call_command("reconcile_topups", "--limit", "0")


def test_stripe_unreachable_during_reconcile_leaves_rows_for_the_next_run(user, stripe_sandbox, settings):
    topups = [authenticated_but_unconfirmed(user, stripe_sandbox) for _ in range(4)]
    real_base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.STRIPE_TIMEOUT_SECONDS = 2
    payments.reset_client()
    out = StringIO()
    with pytest.raises(CommandError, match="left for the next run"):
        call_command("reconcile_topups", "--older-than", "0s", stdout=out)
    text = out.getvalue()
    assert "Stripe unreachable; left for the next run" in text
    assert "Stopped early: Stripe unreachable." in text  # 3 outages in a row: the 4th is not tried
    assert TopUp.objects.filter(status=TopUp.Status.REQUIRES_ACTION).count() == 4
    assert not WalletTransaction.objects.exists()

    settings.STRIPE_API_BASE = real_base
    payments.reset_client()
    assert run().credited == 4
    assert all(TopUp.objects.get(pk=t.pk).status == TopUp.Status.SUCCEEDED for t in topups)


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_and_live_settles_credit_each_topup_once(make_user, stripe_sandbox):
    from tests.concurrency import run_concurrently

    users = [make_user() for _ in range(3)]
    topups = [authenticated_but_unconfirmed(u, stripe_sandbox, amount="12.50") for u in users for _ in range(2)]
    intents = [payments.retrieve_intent(t.stripe_payment_intent_id) for t in topups]

    def worker(i):
        if i % 2:
            return run()
        return [services.settle_topup(intent=intent) for intent in intents]  # the browser / webhook path

    results = run_concurrently(worker, 6)
    assert not [r for r in results if isinstance(r, BaseException)], results
    reports = [r for r in results if isinstance(r, reconcile.ReconcileReport)]
    assert all(r.errors == 0 for r in reports)
    assert WalletTransaction.objects.filter(type=TxType.TOP_UP).count() == 6
    for u in users:
        u.refresh_from_db()
        assert u.wallet_balance == Decimal("25.00")
    call_command("check_ledger", stdout=StringIO())


def test_admin_action_reconciles_selected_topups(user, make_user, stripe_sandbox, rf):
    from django.contrib import admin
    from django.contrib.messages import get_messages
    from django.contrib.messages.storage.fallback import FallbackStorage

    from wallet.admin_actions import reconcile_with_stripe

    topup = authenticated_but_unconfirmed(user, stripe_sandbox, amount="25.00")
    staff = make_user(is_staff=True, is_superuser=True)
    request = rf.post("/admin/wallet/topup/")
    request.user = staff
    request.session = {}
    request._messages = FallbackStorage(request)
    modeladmin = admin.ModelAdmin(TopUp, admin.site)
    reconcile_with_stripe(modeladmin, request, TopUp.objects.filter(pk=topup.pk))
    texts = [str(m) for m in get_messages(request)]
    assert texts == [f"25.00 AED from {user.email} was credited to the wallet ({topup.stripe_payment_intent_id})."]
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED

    # Staff without the permission get a message, and nothing is done.
    clerk = make_user(is_staff=True)
    request.user = clerk
    request._messages = FallbackStorage(request)
    reconcile_with_stripe(modeladmin, request, TopUp.objects.all())
    assert [str(m) for m in get_messages(request)] == ["You do not have permission to reconcile top-ups."]


def test_unstarted_topup_is_not_failed_when_the_listing_may_be_truncated(user, stripe_sandbox, settings, monkeypatch):
    topup = TopUp.objects.create(user=user, amount=Decimal("20.00"), currency="AED", idempotency_key="busy")
    settings.TOPUP_UNSTARTED_AFTER = timedelta(0)
    others = [
        payments.Intent(id=f"pi_other{i}", status="succeeded", amount=100, currency="aed")
        for i in range(reconcile.RECENT_INTENTS)
    ]
    monkeypatch.setattr(payments, "list_recent_intents", lambda limit: others)
    report = run()
    assert report.counts == {"waiting": 1} and "most recent; left pending" in report.lines[0]
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING


# --- review fix: failed/canceled top-ups whose intent succeeds later ---------------------------------------


def _failed_then_paid(user, sandbox):
    """We recorded a top-up failed; the cardholder then completed the same intent at Stripe."""
    topup = waiting_3ds(user, sandbox)
    TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.FAILED, failure_reason="declined")
    intent = payments.retrieve_intent(topup.stripe_payment_intent_id)
    sandbox.authenticate(intent.id, intent.client_secret, success=True)
    return topup


def test_failed_topup_whose_intent_later_succeeded_is_credited_once(user, stripe_sandbox):
    topup = _failed_then_paid(user, stripe_sandbox)
    assert run(dry_run=True).counts == {"waiting": 1}
    assert run().counts == {"credited": 1}
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.SUCCEEDED and topup.failure_reason == ""
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("15.00")
    assert run().counts == {}  # succeeded: no longer a candidate
    assert WalletTransaction.objects.filter(type=TxType.TOP_UP).count() == 1


def test_failed_topup_still_failed_at_stripe_is_left_alone(user, stripe_sandbox):
    topup = waiting_3ds(user, stripe_sandbox)
    intent = payments.retrieve_intent(topup.stripe_payment_intent_id)
    stripe_sandbox.authenticate(intent.id, intent.client_secret, success=False)
    assert run().counts == {"failed": 1}
    report = run()
    assert report.counts == {"settled": 1} and "still failed (requires_payment_method)" in report.lines[0]
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and not WalletTransaction.objects.exists()


def test_failed_topups_older_than_the_abandon_window_are_not_revisited(user, stripe_sandbox, settings):
    from django.utils import timezone

    topup = _failed_then_paid(user, stripe_sandbox)
    TopUp.objects.filter(pk=topup.pk).update(created_at=timezone.now() - timedelta(hours=25))
    settings.TOPUP_ABANDON_AFTER = timedelta(hours=24)
    assert run().candidates == 0
    TopUp.objects.filter(pk=topup.pk).update(stripe_payment_intent_id=None, status=TopUp.Status.CANCELED,
                                             created_at=timezone.now())
    assert run().candidates == 0  # no intent id: nothing to read
