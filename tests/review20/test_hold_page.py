"""Review of issue 20: the admin's hold page did whatever the account's state called for when the form
came back, not what the staff member saw and asked for. A double-clicked "Release the account" held
the account again (the second POST found it released) with the release note shown to the customer
as the hold reason, and a "Put the account on hold" sent while a dispute held it released it."""

import pytest
from django.urls import reverse

from wallet.models import AccountHoldEvent
from wallet.services import holds

pytestmark = pytest.mark.django_db


def url_for(user):
    return reverse("admin:authentication_user_hold", args=[user.pk])


def actions(user):
    return list(AccountHoldEvent.objects.filter(user=user).order_by("created_at").values_list("action", flat=True))


def test_a_double_submitted_release_does_not_hold_the_account_again(user, admin_client):
    holds.hold_account(user=user, reason="A card payment was disputed.")
    page = admin_client.get(url_for(user)).content.decode()
    assert 'name="action" value="release"' in page
    form = {"reason": "Bank confirmed the payment; customer called.", "action": "release"}
    admin_client.post(url_for(user), form)
    admin_client.post(url_for(user), form)  # the second click of a double click
    user.refresh_from_db()
    assert not user.is_on_hold and user.hold_reason == ""
    assert actions(user) == ["hold", "release"]


def test_a_hold_asked_for_while_a_dispute_held_the_account_does_not_release_it(user, admin_client):
    page = admin_client.get(url_for(user)).content.decode()
    assert 'name="action" value="hold"' in page
    holds.hold_account(user=user, reason="A card payment was disputed.")  # meanwhile, a webhook
    answer = admin_client.post(url_for(user), {"reason": "Odd sign-ups from one address", "action": "hold"},
                               follow=True)
    assert "already put on hold" in answer.content.decode()
    user.refresh_from_db()
    assert user.is_on_hold and user.hold_reason == "A card payment was disputed."
    assert actions(user) == ["hold"]


def test_a_post_without_the_pages_action_changes_nothing(user, admin_client):
    answer = admin_client.post(url_for(user), {"reason": "Looks odd"})
    assert answer.status_code == 200
    user.refresh_from_db()
    assert not user.is_on_hold and actions(user) == []
