"""Account pages as people meet them: lockout wording, last-attempt warning, session end, the account
page, nav state, favicon, form accessibility, log-out and password reset wording."""

from datetime import timedelta

import pytest
from django.urls import reverse

from netcop_hub.config import parse_rate
from netcop_hub.durations import in_words

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-pass"


@pytest.mark.parametrize(
    ("value", "words"),
    [(timedelta(minutes=15), "15 minutes"), (timedelta(minutes=1), "1 minute"), (timedelta(hours=1), "1 hour"),
     (timedelta(minutes=90), "1 hour 30 minutes"), (timedelta(days=1), "1 day"), (timedelta(seconds=30), "30 seconds"),
     (45, "45 seconds")],
)
def test_durations_in_words(value, words):
    assert in_words(value) == words


# --- 9: lockout -------------------------------------------------------------------------------------

def fail_login(client, email, times):
    resp = None
    for _ in range(times):
        resp = client.post(reverse("authentication:login"), {"username": email, "password": "wrong"})
    return resp


def test_lockout_page_says_the_pause_in_words(client, user, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("off")
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    locked = fail_login(client, user.email, settings.AXES_FAILURE_LIMIT + 1)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "paused for\n    15 minutes" in text or "paused for 15 minutes" in " ".join(text.split())
    assert "PT15M" not in text
    assert f"after {settings.AXES_FAILURE_LIMIT} wrong passwords" in " ".join(text.split())


def test_login_warns_when_one_attempt_is_left(client, user, settings):
    settings.LOGIN_RATE_LIMIT = parse_rate("off")
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    warning = "One more wrong password will pause log-ins to this account from your network for 15 minutes."
    before = fail_login(client, user.email, settings.AXES_FAILURE_LIMIT - 2)
    assert before.status_code == 200 and warning not in before.content.decode()
    last = fail_login(client, user.email, 1)
    assert last.status_code == 200
    body = " ".join(last.content.decode().split())
    assert "do not match an account" in body and warning in body
    # The warning is per (email, IP): another email from the same network starts fresh.
    other = fail_login(client, "someone-else@example.com", 1)
    assert warning not in other.content.decode()


# --- 15: account page, nav, logo, favicon -------------------------------------------------------------

def test_account_page_needs_login(client):
    resp = client.get(reverse("authentication:account"))
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_account_page_shows_email_and_edits_display_name(auth_client, user):
    page = auth_client.get("/accounts/")
    assert page.status_code == 200
    body = page.content.decode()
    assert user.email in body
    assert reverse("authentication:password_change") in body
    assert f'action="{reverse("authentication:logout")}"' in body
    resp = auth_client.post("/accounts/", {"username": "  Alice Cooper  "}, follow=True)
    assert resp.redirect_chain[-1][0] == reverse("authentication:account")
    assert "Your display name was saved." in resp.content.decode()
    user.refresh_from_db()
    assert user.username == "Alice Cooper"


def test_account_page_refuses_an_empty_display_name(auth_client, user):
    before = user.username
    resp = auth_client.post("/accounts/", {"username": "   "})
    assert resp.status_code == 200
    assert 'aria-invalid="true"' in resp.content.decode()
    user.refresh_from_db()
    assert user.username == before


def test_saving_the_display_name_never_touches_the_balance(auth_client, user):
    from decimal import Decimal

    user.add_balance(Decimal("30.00"))
    auth_client.post("/accounts/", {"username": "New name"})
    user.refresh_from_db()
    assert user.wallet_balance == Decimal("30.00")


@pytest.mark.parametrize(
    ("url", "current"),
    [("/wallet/", "Wallet"), ("/wallet/history/", "History"), ("/agents/", "Agents"), ("/accounts/", "Account")],
)
def test_nav_marks_the_current_page(auth_client, url, current):
    import re

    body = auth_client.get(url).content.decode()
    nav = body[body.index('<nav class="nav"'):body.index("</nav>")]
    marked = re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav)
    assert [m.strip() for m in marked] == [current]


def test_nav_marks_login_when_logged_out(client):
    body = client.get(reverse("authentication:login")).content.decode()
    nav = body[body.index('<nav class="nav"'):body.index("</nav>")]
    assert 'aria-current="page">Log in</a>' in nav
    assert "Account" not in nav and "Log out" not in nav


def test_logo_is_an_inline_svg_not_an_emoji(client):
    body = client.get("/").content.decode()
    brand = body[body.index('class="brand"'):body.index("NetCop</a>")]
    assert "<svg" in brand and "&#128737;" not in body and "\U0001f6e1" not in body


def test_favicon_is_linked_and_favicon_ico_redirects_to_it(client):
    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    body = client.get("/").content.decode()
    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in body
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301 and resp["Location"] == static("favicon.svg")
    path = finders.find("favicon.svg")
    assert path and open(path).read().lstrip().startswith("<svg")


# --- 16: forms ----------------------------------------------------------------------------------------

def ids_in(html):
    import re

    return set(re.findall(r'\sid="([^"]+)"', html))


def described_by(html):
    import re

    return [ref for value in re.findall(r'aria-describedby="([^"]+)"', html) for ref in value.split()]


@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/login/", "/accounts/password/reset/"])
def test_aria_describedby_points_at_elements_that_exist(client, url):
    html = client.get(url).content.decode()
    refs = described_by(html)
    assert set(refs) <= ids_in(html), set(refs) - ids_in(html)


def test_password_rules_are_announced_with_the_field(client):
    html = client.get("/accounts/signup/").content.decode()
    assert 'aria-describedby="id_password1_helptext"' in html
    start = html.index('id="id_password1_helptext"')
    assert "at least 8 characters" in html[start:start + 600]


def test_signup_gives_every_error_in_one_round_linked_to_its_field(client, user):
    resp = client.post("/accounts/signup/", {"email": user.email.upper(), "username": "",
                                             "password1": "123", "password2": "1234"})
    html = resp.content.decode()
    # A mismatch no longer hides the weak password, and nothing waits for a second submit.
    for message in ["An account with this email already exists.", "Enter a display name.",
                    "This password is too short.", "The two passwords do not match."]:
        assert message in html
    for field in ["id_email", "id_username", "id_password1", "id_password2"]:
        assert f'<a href="#{field}">' in html  # the summary links to the field
        tag = html[html.index(f'id="{field}"') - 200:html.index(f'id="{field}"') + 200]
        assert 'aria-invalid="true"' in tag
        assert f"{field}_error" in tag
        assert f'id="{field}_error"' in html
    assert set(described_by(html)) <= ids_in(html)


def test_first_invalid_field_gets_the_focus(client):
    html = client.post("/accounts/signup/", {"email": "fresh@example.com", "username": "Fresh",
                                             "password1": "a-Long-pass-42", "password2": "other"}).content.decode()
    autofocus = [line for line in html.split("<input") if "autofocus" in line]
    assert len(autofocus) == 1 and 'id="id_password2"' in autofocus[0]


def test_password_change_uses_the_same_wording_and_checks_everything_at_once(auth_client):
    html = auth_client.get("/accounts/password/change/").content.decode()
    for label in ["Current password", "New password", "Confirm new password"]:
        assert f">{label}</label>" in html
    html = auth_client.post("/accounts/password/change/", {"old_password": "wrong", "new_password1": "123",
                                                           "new_password2": "1234"}).content.decode()
    assert "Your current password is not correct." in html
    assert "This password is too short." in html
    assert "The two passwords do not match." in html
    assert "didn’t match" not in html and "entered incorrectly" not in html


def test_password_change_returns_to_the_account_page_still_logged_in(auth_client, user):
    resp = auth_client.post("/accounts/password/change/", {"old_password": PASSWORD, "new_password1": "a-New-pass-4242",
                                                          "new_password2": "a-New-pass-4242"}, follow=True)
    assert resp.redirect_chain[-1][0] == reverse("authentication:account")
    assert "Your password was changed. You are still logged in on this device." in resp.content.decode()
    user.refresh_from_db()
    assert user.check_password("a-New-pass-4242")


def test_reset_confirm_checks_strength_and_match_together(client, user):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(user.pk))
    url = reverse("authentication:password_reset_confirm", args=[uid, default_token_generator.make_token(user)])
    form_url = client.get(url)["Location"]
    html = client.post(form_url, {"new_password1": "123", "new_password2": "1234"}).content.decode()
    assert "This password is too short." in html and "The two passwords do not match." in html
    assert ">Confirm new password</label>" in html


def test_logout_confirms_with_a_message(auth_client):
    resp = auth_client.post(reverse("authentication:logout"), follow=True)
    assert resp.redirect_chain[-1][0] == reverse("home")
    html = resp.content.decode()
    assert "You have been logged out." in html
    assert reverse("authentication:login") in html and "Log out" not in html


def test_password_reset_page_explains_itself_and_links_back_to_login(client):
    html = " ".join(client.get("/accounts/password/reset/").content.decode().split())
    assert "We will email you a link to choose a new password" in html and "expires after 3 days" in html
    assert f'<a href="{reverse("authentication:login")}">Back to log in</a>' in html
    done = " ".join(client.post("/accounts/password/reset/", {"email": "nobody@example.com"}, follow=True)
                    .content.decode().split())
    assert "Check your email" in done and reverse("authentication:login") in done


def test_missing_fields_say_what_to_enter(client):
    html = client.post("/accounts/login/", {"username": "", "password": ""}).content.decode()
    assert "Enter your email address." in html and "Enter your password." in html
    assert "This field is required." not in html


# --- 13: the session ends while a page is open ----------------------------------------------------------

def test_logged_in_pages_carry_the_logged_out_nav_for_the_session_ended_answer(auth_client):
    from django.templatetags.static import static
    from django.test import Client

    html = auth_client.get("/wallet/").content.decode()
    assert f'data-login-url="{reverse("authentication:login")}"' in html
    template = html[html.index('<template id="nav-logged-out">'):]
    template = template[:template.index("</template>")]
    assert ">Log in</a>" in template and ">Sign up</a>" in template
    # common.js answers a 401 (NetCop.sessionEnded), on every page.
    assert f'<script src="{static("js/common.js")}"></script>' in html
    assert '"sessionEnded": "Your session has ended."' in html
    anonymous = Client().get("/").content.decode()
    assert "nav-logged-out" not in anonymous
