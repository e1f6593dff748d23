"""Browser fixtures: Playwright (from pip) driving Debian's Chromium against Django's live server.

Without Chromium or Playwright these tests skip locally and fail under CI=true.
"""

import os
import pathlib
import re

import pytest

from tests.helpers import PASSWORD, skip_or_fail

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures
    # here are plain synchronous test code, so allow them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context and page; a screenshot is saved when the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a failed screenshot must not hide the real failure
            pass
    context.close()


@pytest.fixture
def login(live_server, page):
    """login(user) logs the user in through the real login form and returns the page."""

    def do_login(user, password=PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r".*/wallet/.*"))
        return page

    return do_login


@pytest.fixture
def expect():
    """Playwright's auto-waiting assertions."""
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def wallet_page(live_server, stripe_sandbox, make_user, login):
    """A newly signed-up user logged in on /wallet/ with the (sandbox) card element mounted."""
    user = make_user()
    page = login(user)
    page.goto(f"{live_server.url}/wallet/")
    page.locator("#card-element").get_by_label("Card number").wait_for()
    page.user = user
    return page
