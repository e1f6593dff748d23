"""Deploy checks (`manage.py check --deploy`) for what the wallet needs in production."""

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
