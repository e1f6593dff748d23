"""Review of issue 20: a confirmed email address stays confirmed only while it is the account's
address. Staff changing it in the admin left email_verified_at set, so the account could top up with
an address nobody had confirmed (TOPUP_REQUIRE_VERIFIED_EMAIL)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from authentication import verification
from wallet import services
from wallet.exceptions import EmailNotVerified

pytestmark = pytest.mark.django_db


def change_email(admin_client, user, email):
    data = {"email": email, "username": user.username, "first_name": "", "last_name": "", "is_active": "on"}
    answer = admin_client.post(reverse("admin:authentication_user_change", args=[user.pk]), data)
    assert answer.status_code == 302, answer.content.decode()[:2000]


def test_an_email_changed_by_staff_must_be_confirmed_again(admin_client, make_user, settings):
    settings.TOPUP_REQUIRE_VERIFIED_EMAIL = True
    user = make_user(email="old@example.com")
    verification.mark_verified(user=user)
    old_link = verification.token_for(user)
    change_email(admin_client, user, "New@Example.com")
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert user.email_verified_at is None
    with pytest.raises(EmailNotVerified):
        services.card_testing.check_topup_allowed(user=user, amount=Decimal("10.00"))
    # The old address's link does not confirm the new one; a link for the new one does.
    with pytest.raises(verification.LinkInvalid):
        verification.confirm(old_link)
    verification.confirm(verification.token_for(user))
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_saving_the_user_without_changing_the_email_keeps_it_confirmed(admin_client, make_user):
    user = make_user(email="same@example.com")
    verification.mark_verified(user=user)
    before = type(user).objects.get(pk=user.pk).email_verified_at
    change_email(admin_client, user, "SAME@example.com")  # the same address, another case
    user.refresh_from_db()
    assert user.email_verified_at == before and before <= timezone.now()
