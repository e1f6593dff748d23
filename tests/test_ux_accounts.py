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
