"""Grants, promo codes and expiry (issue 23)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.credits.helpers import give, lot_of, make_expired, remaining, settled_topup
from wallet import services
from wallet.exceptions import InvalidAmount, PromoCodeRefused
from wallet.health import check_ledger, money_totals
from wallet.models import CreditLot, LotKind, PromoCode, PromoRedemption, TxType, WalletTransaction
from wallet.scheduler import CHORES
from wallet.services import credits

pytestmark = pytest.mark.django_db


def code(**kw) -> PromoCode:
    values = {"code": "WELCOME10", "amount": Decimal("10.00"), "max_redemptions": 100, "credit_valid_days": 30}
    values.update(kw)
    return PromoCode.objects.create(**values)


def test_a_grant_is_promotional_audited_and_expires(make_user):
    user = make_user()
    staff = make_user(is_staff=True)
    entry = give(user, "7.50", days=10, staff=staff, reason="sorry for the outage")
    assert (entry.type, entry.created_by_id, entry.description) == (
        TxType.GRANT, staff.pk, "Grant: sorry for the outage"
    )
    lot = lot_of(entry)
    assert lot.kind == LotKind.PROMOTIONAL and lot.expires_at > timezone.now() + timedelta(days=9)
    with pytest.raises(InvalidAmount):
        credits.grant(user=user, amount="1.00", reason=" ", staff=staff)
    with pytest.raises(InvalidAmount):
        credits.grant(user=user, amount="1.00", reason="x", staff=staff, expires_at=timezone.now())
    assert check_ledger().ok and money_totals().ok


def test_redeeming_is_once_per_account_and_idempotent(make_user):
    user = make_user()
    promo = code()
    first = credits.redeem_code(user=user, code=" welcome10 ")
    again = credits.redeem_code(user=user, code="WELCOME10")
    assert first.created and not again.created and again.redemption.pk == first.redemption.pk
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("10.00")
    promo.refresh_from_db()
    assert promo.redemptions == 1
    lot = first.redemption.lot
    assert lot.kind == LotKind.PROMOTIONAL and lot.promo_code_id == promo.pk and lot.expires_at is not None
    assert WalletTransaction.objects.filter(user=user, type=TxType.PROMO_CODE).count() == 1
    assert check_ledger().ok and money_totals().ok


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"redeemable_until": timezone.now() - timedelta(minutes=1)}, "expired"),
        ({"max_redemptions": 0}, "fully redeemed"),
    ],
)
def test_a_code_past_its_date_or_used_up_is_refused(make_user, values, words):
    code(**values)
    with pytest.raises(PromoCodeRefused, match=words):
        credits.redeem_code(user=make_user(), code="WELCOME10")


def test_unknown_codes_and_new_accounts_only(make_user):
    user = make_user()
    with pytest.raises(PromoCodeRefused, match="does not exist"):
        credits.redeem_code(user=user, code="NOPE")
    code(new_accounts_only=True)
    settled_topup(user, "10.00", "pi_old_customer")
    with pytest.raises(PromoCodeRefused, match="new accounts"):
        credits.redeem_code(user=user, code="WELCOME10")
    assert credits.redeem_code(user=make_user(), code="WELCOME10").created


def test_the_redemption_count_cannot_pass_the_maximum(make_user):
    promo = code(max_redemptions=1)
    credits.redeem_code(user=make_user(), code="WELCOME10")
    with pytest.raises(IntegrityError), transaction.atomic():
        PromoCode.objects.filter(pk=promo.pk).update(redemptions=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        row = PromoRedemption.objects.get()
        PromoRedemption.objects.create(code=promo, user=row.user, lot=lot_of(give(row.user, "1.00")))


def test_expiry_takes_only_what_is_left_and_only_once(make_user):
    user = make_user()
    settled_topup(user, "5.00", "pi_keep")
    promo = lot_of(give(user, "10.00"))
    services.debit(user=user, amount="6.00", type=TxType.AGENT_USAGE, description="Agent run: x")
    make_expired(promo)
    assert credits.expire_due_lots() == 1
    assert credits.expire_due_lots() == 0
    row = WalletTransaction.objects.get(type=TxType.EXPIRY)
    assert row.amount == Decimal("-4.00") and row.balance_after == Decimal("5.00")
    assert remaining(promo) == Decimal("0.00")
    assert check_ledger().ok and money_totals().ok


def test_a_warning_goes_out_once_seven_days_before(make_user, django_capture_on_commit_callbacks):
    user = make_user()
    soon = lot_of(give(user, "3.00", days=6))
    give(user, "3.00", days=30)
    with django_capture_on_commit_callbacks(execute=True):
        assert credits.warn_expiring_lots() == 1
        assert credits.warn_expiring_lots() == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email] and "3.00" in message.subject and "expires" in message.body
    assert CreditLot.objects.get(pk=soon.pk).expiry_warned_at is not None


def test_the_chore_is_registered():
    assert "expire_credits" in {chore.name for chore in CHORES}
