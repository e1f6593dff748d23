"""Deploy checks (`manage.py check --deploy`) for what the wallet needs in production."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    """Rate limits and the admin's single-use tokens must be shared by every worker: Redis."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
        return [
            Warning(
                "The cache is per process: rate limits and single-use admin confirmations are not "
                "shared between workers and servers.",
                hint="Set REDIS_URL (Django's RedisCache) in production.",
                id="netcop.W001",
            )
        ]
    return []


# Addresses that only reach the machine itself (compared with SITE_URL's host, never bound to).
LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::1", None}  # noqa: S104  # nosec B104


@register(Tags.security, deploy=True)
def site_url_check(app_configs, **kwargs):
    """Emails (receipts, resets, auto-recharge notices) link to SITE_URL: in production it must be the
    public https address, not the development default."""
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme != "https" or parts.hostname in LOCAL_HOSTS:
        return [
            Warning(
                f"SITE_URL is {settings.SITE_URL!r}: links in emails would not reach your customers.",
                hint="Set SITE_URL to the public https address, e.g. SITE_URL=https://wallet.example.com.",
                id="netcop.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def ops_emails_check(app_configs, **kwargs):
    """Early fraud warnings and server errors are emailed to ADMINS (mail_admins), which OPS_EMAILS
    fills: without it those emails go nowhere and nobody hears of them."""
    if not settings.ADMINS:
        return [
            Warning(
                "OPS_EMAILS is empty: early fraud warnings and server errors are emailed to nobody.",
                hint="Set OPS_EMAILS to the team's addresses, e.g. OPS_EMAILS=ops@example.com.",
                id="netcop.W003",
            )
        ]
    return []
