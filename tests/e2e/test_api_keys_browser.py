"""The API key page in Chromium (issue 21): create a key, see it once, use it, revoke it; and the
API reference. Screenshots at 1280 and 375 px when SCREENSHOT_DIR is set."""

import os
import re
from decimal import Decimal

import pytest

from authentication import api_keys
from authentication.models import ApiKey

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def shot(page, name):
    shots = os.environ.get("SCREENSHOT_DIR")
    if not shots:
        return
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=os.path.join(shots, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_create_use_and_revoke_a_key(live_server, login, make_user, make_agent):
    user = make_user(balance=Decimal("20.00"))
    make_agent(slug="phishing-url-checker")
    page = login(user)
    page.goto(f"{live_server.url}/accounts/")
    page.get_by_role("link", name="Manage API keys").click()
    page.get_by_label("Name").fill("Mail gateway")
    page.get_by_label("Run agents (spends money)").check()
    page.get_by_label("Monthly spend cap (optional)").fill("25")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-api-key").inner_text()
    assert api_keys.well_formed(secret)
    assert page.get_by_text("it is shown only once").is_visible()
    shot(page, "api-keys-created")

    key = ApiKey.objects.get(user=user)
    assert key.scopes == ["agents:run", "history:read", "wallet:read"] and key.monthly_cap == Decimal("25.00")
    # The key works on the API, then the page no longer shows the secret.
    answer = page.request.post(
        f"{live_server.url}/api/v1/agents/phishing-url-checker/runs",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        data='{"input": "http://paypa1.com/login"}',
    )
    assert answer.status == 200, answer.text()
    page.goto(f"{live_server.url}/accounts/api-keys/")
    assert secret not in page.content()
    row = page.locator(".api-key-item", has_text="Mail gateway")
    assert "2.50" in row.inner_text() and "25.00" in row.inner_text()
    shot(page, "api-keys-list")

    page.get_by_role("button", name="Revoke Mail gateway").click()
    assert page.get_by_text("no longer works").is_visible()
    assert ApiKey.objects.get(pk=key.pk).is_revoked
    refused = page.request.get(f"{live_server.url}/api/v1/ping", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
    shot(page, "api-keys-revoked")


def test_api_reference_page(live_server, page):
    page.goto(f"{live_server.url}/api/v1/docs/")
    assert page.get_by_role("heading", name=re.compile("NetCop Wallet API")).is_visible()
    assert page.locator("#insufficient_balance").count() == 1
    shot(page, "api-docs")


def test_webhooks_page_add_test_and_rotate(live_server, login, make_user, settings):
    from api.models import WebhookEndpoint
    from tests.api.test_webhooks import Receiver

    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    try:
        user = make_user()
        page = login(user)
        page.goto(f"{live_server.url}/accounts/")
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Description (optional)").fill("SIEM")
        page.get_by_role("button", name="Add endpoint").click()
        assert page.get_by_text("Endpoint added").is_visible()
        page.get_by_role("button", name="Send test event").click()
        assert page.get_by_text("Test event queued").is_visible()
        page.reload()
        assert page.locator(".webhook-log").get_by_text("Delivered").is_visible()
        assert len(receiver.requests) == 1
        secret = WebhookEndpoint.objects.get(user=user).secret
        page.get_by_role("button", name="Rotate secret").click()
        assert WebhookEndpoint.objects.get(user=user).previous_secret == secret
        shot(page, "webhooks")
    finally:
        receiver.close()
