"""Account pages as people meet them: lockout wording, last-attempt warning, session end, the account
page, nav state, favicon, form accessibility, log-out and password reset wording."""

from datetime import timedelta

import pytest
from django.urls import reverse

from authentication.durations import in_words

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
    settings.LOGIN_RATE_LIMIT = "off"
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    locked = fail_login(client, user.email, settings.AXES_FAILURE_LIMIT + 1)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "paused for\n    15 minutes" in text or "paused for 15 minutes" in " ".join(text.split())
    assert "PT15M" not in text
    assert f"after {settings.AXES_FAILURE_LIMIT} wrong passwords" in " ".join(text.split())


def test_login_warns_when_one_attempt_is_left(client, user, settings):
    settings.LOGIN_RATE_LIMIT = "off"
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
