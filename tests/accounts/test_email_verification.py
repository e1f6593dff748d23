"""Email verification before the first top-up (issue 20, TOPUP_REQUIRE_VERIFIED_EMAIL)."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.core.management import call_command
from django.utils import timezone

from authentication import verification
from tests.helpers import create_topup
from wallet import payments
from wallet.models import TopUp

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://\S+/accounts/verify-email/\S+/")


def _link_in(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(0).replace("http://127.0.0.1:8000", "")


def test_signup_sends_the_link_and_the_link_confirms(client, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "http://127.0.0.1:8000"
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/accounts/signup/", {"email": "new@example.com", "username": "New", "password1":
                           "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"})
    assert resp.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["new@example.com"] and "Confirm your email" in message.subject
    link = _link_in(message)
    from authentication.models import User

    assert User.objects.get(email="new@example.com").email_verified_at is None
    page = client.get(link)
    assert page.status_code == 200 and "Email confirmed" in page.content.decode()
    assert User.objects.get(email="new@example.com").email_verified_at is not None
    # Opening it again is harmless.
    assert client.get(link).status_code == 200


def test_an_unverified_account_cannot_top_up_and_stripe_is_never_asked(client, make_user, monkeypatch):
    called = []
    monkeypatch.setattr(payments, "create_and_confirm_intent", lambda **kw: called.append(kw))
    monkeypatch.setattr(payments, "card_fingerprint", lambda pm: called.append(pm) or "")
    client.force_login(make_user(verified=False))
    resp = create_topup(client, amount="50.00", pm="pm_card_visa", key="k")
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == "email_not_verified"
    assert "confirm your email" in body["error"].lower() and "send the link again" in body["error"].lower()
    assert body["resend_url"] == "/accounts/verify-email/"
    assert called == [] and not TopUp.objects.exists()


def test_the_wallet_page_says_why_and_offers_the_link_again(client, make_user):
    person = make_user(verified=False)
    client.force_login(person)
    html = client.get("/wallet/").content.decode()
    assert "Confirm your email address to top up." in html and person.email in html
    assert 'action="/accounts/verify-email/"' in html and "Send the link again" in html
    assert 'id="topup-form"' not in html  # no card form that could only be refused


def test_resend_sends_a_new_link_and_is_rate_limited(client, make_user, settings,
                                                     django_capture_on_commit_callbacks):
    settings.VERIFY_EMAIL_RATE_LIMIT = verification_rate(2)
    client.force_login(make_user(verified=False))
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            page = client.post("/accounts/verify-email/", follow=True).content.decode()
        assert "We sent a new confirmation link" in page
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/accounts/verify-email/", follow=True).content.decode()
    assert "You can ask for another in" in page
    assert len(mail.outbox) == 2


def verification_rate(count):
    from netcop_hub.config import Rate

    return Rate(count, 3600)


def test_expired_tampered_and_foreign_links_are_refused(client, make_user, settings):
    person = make_user(verified=False)
    token = verification.token_for(person)
    settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(seconds=-1)
    expired = client.get(f"/accounts/verify-email/{token}/")
    assert expired.status_code == 400 and "expired" in expired.content.decode()
    settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)
    tampered = client.get(f"/accounts/verify-email/{token[:-2]}xx/")
    assert tampered.status_code == 400 and "not valid" in tampered.content.decode()
    other = make_user(verified=False)
    forged = signing.TimestampSigner(salt="wrong-salt").sign(f"{other.pk}.x")
    assert client.get(f"/accounts/verify-email/{forged}/").status_code == 400
    person.refresh_from_db()
    other.refresh_from_db()
    assert person.email_verified_at is None and other.email_verified_at is None


def test_a_verified_account_gets_no_more_links(make_user):
    person = make_user()
    from wallet import emails

    assert emails.send(emails.VERIFY_EMAIL, f"{person.pk}:1") is False
    assert mail.outbox == []


def test_the_requirement_can_be_switched_off(client, make_user, settings):
    settings.TOPUP_REQUIRE_VERIFIED_EMAIL = False
    client.force_login(make_user(verified=False))
    assert 'id="topup-form"' in client.get("/wallet/").content.decode()


def test_the_demo_user_is_verified_so_make_run_tops_up_out_of_the_box():
    call_command("seed_demo", verbosity=0)
    from authentication.models import User

    demo = User.objects.get(email="demo@netcop.local")
    assert demo.email_verified_at is not None and demo.email_verified_at <= timezone.now()


def test_the_account_page_says_the_address_is_not_confirmed_and_resends(client, make_user,
                                                                       django_capture_on_commit_callbacks):
    client.force_login(make_user(verified=False))
    html = client.get("/accounts/").content.decode()
    assert "(not confirmed yet)" in html and "Send the link again" in html
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/accounts/verify-email/", {"from": "account"})
    assert resp["Location"] == "/accounts/" and len(mail.outbox) == 1


def test_a_confirmed_account_page_shows_no_notice(client, make_user):
    client.force_login(make_user())
    assert "not confirmed" not in client.get("/accounts/").content.decode()
