"""The test kit itself: the fast password hasher reaches the live server that browser tests use."""

import http.cookiejar
import re
import urllib.parse
import urllib.request

from tests.helpers import PASSWORD


def test_users_made_in_tests_use_the_fast_hasher(make_user):
    assert make_user().password.startswith("md5$")


def test_the_live_server_checks_passwords_with_the_fast_hasher(live_server, make_user):
    """A login through the live server (another thread) verifies an MD5 hash and keeps it.

    Were the server on the default PBKDF2 list, the MD5 hash would not verify (the login fails)
    or, with MD5 only accepted, it would be upgraded to the preferred hasher on login."""
    user = make_user(email="fast@example.com")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{live_server.url}/accounts/login/"
    with opener.open(login_url, timeout=30) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": user.email, "password": PASSWORD}
    ).encode()
    request = urllib.request.Request(login_url, data=form, headers={"Referer": login_url})
    with opener.open(request, timeout=30) as response:
        landed = response.url
    assert "/accounts/login/" not in landed, "the login through the live server failed"
    user.refresh_from_db()
    assert user.password.startswith("md5$")
