"""Issue 18, accounts and emails: display names that cannot forge a message (item 2), plain-text emails
without HTML escaping, links and the reset subject from SITE_URL (item 14), an email on every password
change (item 18)."""

import re

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.urls import reverse

from authentication.forms import DisplayNameForm, SignUpForm
from authentication.models import User
from authentication.validators import DISPLAY_NAME_MAX_LENGTH
from tests.helpers import PASSWORD
from wallet import emails, services

BAD_NAMES = [
    "Alice\nURGENT: your card was charged",
    "Alice\r\nBob",
    "Alice\u2028Bob",  # line separator
    "Alice\u2029Bob",  # paragraph separator
    "Alice\u202egnp.exe",  # right-to-left override
    "Alice\u200e",
    "Alice\u200fBob",
    *[f"Alice{chr(code)}Bob" for code in range(0x2066, 0x206A)],  # bidi isolates
    "Alice\x00Bob",
    "Alice\x1b[31mBob",
    "URGENT: your card was charged, see http://evil.example",
    "see HTTPS://evil",
    "www.evil-site",
    "Call evil.example now",
    "paypal.com",
    "evil\uff0ecom",  # fullwidth full stop
    "evil\u3002com",  # ideographic full stop
    "a" * (DISPLAY_NAME_MAX_LENGTH + 1),
]
GOOD_NAMES = ["Alice Cooper", "Zoë O'Brien", "Tom & Jerry's", "李小龙", "Dr. Who", "J. R. R. Tolkien",
              "Anne-Marie 🙂", "a" * DISPLAY_NAME_MAX_LENGTH]


def signup_data(name):
    return {"email": "new@example.com", "username": name, "password1": PASSWORD, "password2": PASSWORD}


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_NAMES)
def test_display_name_is_refused_by_the_forms_the_model_and_the_admin(name, make_user):
    form = SignUpForm(signup_data(name))
    assert not form.is_valid() and "username" in form.errors
    user = make_user()
    form = DisplayNameForm({"username": name}, instance=user)
    assert not form.is_valid() and "username" in form.errors
    with pytest.raises(ValidationError) as error:
        User(email="x@example.com", username=name, password="x").full_clean()
    assert "username" in error.value.message_dict
    # The admin's change form (a superuser editing anyone's profile).
    superuser = make_user(is_staff=True, is_superuser=True)
    request = RequestFactory().get("/")
    request.user = superuser
    model_admin = admin_site._registry[User]
    admin_form = model_admin.get_form(request, user, change=True)
    data = {"email": user.email, "username": name, "is_active": "on",
            "date_joined_0": "2026-12-07", "date_joined_1": "10:00:00"}
    bound = admin_form(data, instance=user)
    assert not bound.is_valid() and "username" in bound.errors


@pytest.mark.django_db
@pytest.mark.parametrize("name", GOOD_NAMES)
def test_ordinary_display_names_are_accepted(name, make_user):
    assert SignUpForm(signup_data(name)).is_valid()
    assert DisplayNameForm({"username": name}, instance=make_user()).is_valid()


@pytest.mark.django_db
def test_the_account_page_refuses_a_forged_name(client, make_user):
    user = make_user(username="Alice")
    client.force_login(user)
    response = client.post(reverse("authentication:account"),
                           {"username": "Alice\u202e http://evil.example"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.username == "Alice"


@pytest.mark.django_db
def test_an_account_made_without_a_name_gets_a_valid_one():
    user = User.objects.create_user(email="jane.doe+x@example.com", password=PASSWORD)
    user.full_clean()
    assert user.username == "jane doe x"


# --- plain-text emails ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_text_emails_are_not_html_escaped(make_user, mailoutbox, settings):
    settings.SITE_URL = "http://127.0.0.1:8123"
    user = make_user(username="Tom & Jerry's", email="tom@example.com")
    entry = services.credit(user=user, amount="5.00", type=services.TxType.ADJUSTMENT, description="t")
    assert emails.send(emails.LOW_BALANCE, str(entry.pk))
    body = mailoutbox[-1].body
    assert "Hello Tom & Jerry's," in body
    assert "&amp;" not in body and "&#x27;" not in body and "&#39;" not in body
    assert "http://127.0.0.1:8123/wallet/" in body


# --- password reset: SITE_URL and the product's name ------------------------------------------------

@pytest.mark.django_db
def test_password_reset_email_links_to_site_url_and_names_the_product(client, make_user, mailoutbox,
                                                                      settings):
    settings.SITE_URL = "http://127.0.0.1:8123"
    make_user(email="o'brien&co@example.com")
    response = client.post(reverse("authentication:password_reset"), {"email": "o'brien&co@example.com"},
                           HTTP_HOST="testserver")
    assert response.status_code == 302
    message = mailoutbox[-1]
    assert message.subject == "Reset your NetCop Wallet password"
    assert "(o'brien&co@example.com)" in message.body
    link = re.search(r"http\S+", message.body).group(0)
    assert link.startswith("http://127.0.0.1:8123/accounts/password/reset/")
    assert client.get(link.removeprefix("http://127.0.0.1:8123"), follow=True).status_code == 200


# --- an email on every password change --------------------------------------------------------------

@pytest.mark.django_db
def test_changing_the_password_sends_an_email_after_commit(client, make_user, mailoutbox, settings,
                                                           django_capture_on_commit_callbacks):
    settings.SITE_URL = "http://127.0.0.1:8123"
    user = make_user(username="Tom & Jerry's")
    client.force_login(user)
    new = "a-new-Passw0rd-for-this"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("authentication:password_change"), {
            "old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert mailoutbox == []  # not before the change is committed
    for callback in callbacks:
        callback()
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.subject == "Your NetCop Wallet password was changed"
    assert message.to == [user.email]
    assert "Hello Tom & Jerry's," in message.body
    assert "http://127.0.0.1:8123/accounts/password/reset/" in message.body


@pytest.mark.django_db
def test_a_failed_password_change_sends_nothing(client, make_user, mailoutbox,
                                                django_capture_on_commit_callbacks):
    client.force_login(make_user())
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("authentication:password_change"), {
            "old_password": "wrong", "new_password1": "a-new-Passw0rd", "new_password2": "a-new-Passw0rd"})
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_names_stored_before_the_validator_are_replaced_by_a_migration(make_user):
    executor = MigrationExecutor(connection)
    # Rows written through the model as it was at 0003 (later migrations add columns the current
    # model has and the old table lacks).
    OldUser = executor.migrate([("authentication", "0003_display_name_validator")]).apps.get_model(
        "authentication", "User"
    )
    forged = OldUser.objects.create(email="forged.name@example.com", username="forged", password="!")
    fine = OldUser.objects.create(email="fine@example.com", username="fine", password="!")
    OldUser.objects.filter(pk=forged.pk).update(username="Alice\nURGENT: pay at http://evil.example")
    OldUser.objects.filter(pk=fine.pk).update(username="Zoë O'Brien")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    forged.refresh_from_db()
    fine.refresh_from_db()
    assert forged.username == "forged name"
    assert fine.username == "Zoë O'Brien"
