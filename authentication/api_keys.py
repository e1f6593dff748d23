"""API keys: issue, check and revoke (issue 21).

A key reads `ncw_live_` (or `ncw_test_` with DEBUG on) + 30 random base62 characters + a 6-character
base62 CRC32 of everything before it, as GitHub's tokens do: a secret scanner recognises the prefix
and tells a real key from a look-alike by the checksum without asking us, and a mistyped key is
refused here without a database query. Only HMAC-SHA256(server secret, key) is stored: a copy of
the table cannot be replayed against the API, and the secret is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from netcop_hub import ratelimit
from netcop_hub.errors import DomainError

from .models import ApiKey, ApiKeyScope, User

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_CHARS = 30  # 30 * log2(62) ≈ 178 bits
CHECKSUM_CHARS = 6
PREFIXES = ("ncw_live_", "ncw_test_")
SHOWN_CHARS = 8  # random characters kept in `prefix` so the owner can tell keys apart
# last_used_* is written at most this often per key: not one UPDATE on every API request.
TOUCH_EVERY = timedelta(seconds=60)
MAX_KEYS_PER_USER = 50


class ApiKeyError(DomainError):
    status = 401
    code = "invalid_api_key"
    default_message = "The API key is missing, malformed or unknown."


class ApiKeyRevoked(ApiKeyError):
    code = "api_key_revoked"
    default_message = "This API key has been revoked."


class ApiKeyExpired(ApiKeyError):
    code = "api_key_expired"
    default_message = "This API key has expired."


class AccountInactive(ApiKeyError):
    code = "account_inactive"
    default_message = "The account this key belongs to is closed."


class MissingScope(DomainError):
    status = 403
    code = "insufficient_scope"

    def __init__(self, scope: str):
        super().__init__(f"scope {scope} missing", user_message=f"This API key lacks the {scope} scope.")
        self.scope = scope

    def details(self):
        return {"scope": self.scope}


class InvalidKeyRequest(DomainError):
    code = "invalid_api_key_request"
    text_is_user_message = True


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_CHARS)


def environment_prefix() -> str:
    return PREFIXES[1] if settings.DEBUG else PREFIXES[0]


def generate_secret() -> str:
    body = environment_prefix() + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return body + _checksum(body)


def well_formed(secret: str) -> bool:
    """Prefix, length, alphabet and checksum: what a scanner checks, without our database."""
    if not isinstance(secret, str) or not secret.startswith(PREFIXES):
        return False
    if len(secret) != len(PREFIXES[0]) + RANDOM_CHARS + CHECKSUM_CHARS:
        return False
    rest = secret[len(PREFIXES[0]):]
    if any(c not in ALPHABET for c in rest):
        return False
    body, check = secret[:-CHECKSUM_CHARS], secret[-CHECKSUM_CHARS:]
    return hmac.compare_digest(_checksum(body), check)


def hash_secret(secret: str) -> str:
    # Keyed with a value derived from SECRET_KEY (never the key itself): rotating SECRET_KEY
    # invalidates every API key, which the README says.
    pepper = hashlib.sha256(b"netcop-api-key:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def create_key(
    *, user: User, name: str, scopes: list[str], expires_at=None, monthly_cap: Decimal | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret (the only time the secret exists outside the client)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidKeyRequest("Give the key a name of at most 100 characters.")
    valid = {s.value for s in ApiKeyScope}
    chosen = sorted(set(scopes))
    if not chosen or any(s not in valid for s in chosen):
        raise InvalidKeyRequest("Choose at least one scope.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidKeyRequest("The expiry must be in the future.")
    if monthly_cap is not None and monthly_cap <= 0:
        raise InvalidKeyRequest("The monthly cap must be greater than zero (leave it empty for none).")
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_KEYS_PER_USER:
        raise InvalidKeyRequest(f"At most {MAX_KEYS_PER_USER} active keys per account: revoke one first.")
    secret = generate_secret()
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(PREFIXES[0]) + SHOWN_CHARS],
        secret_hash=hash_secret(secret),
        scopes=chosen,
        expires_at=expires_at,
        monthly_cap=monthly_cap,
    )
    return key, secret


def authenticate(secret: str, *, ip: str | None = None) -> ApiKey:
    """The live key for `secret` (with its user loaded), or an ApiKeyError saying why not.

    Read fresh on every request: a key revoked (or an account closed) a moment ago is refused on
    the very next request; there is no cache to expire."""
    if not well_formed(secret):
        raise ApiKeyError()
    key = ApiKey.objects.select_related("user").filter(secret_hash=hash_secret(secret)).first()
    if key is None:
        raise ApiKeyError()
    if key.is_revoked:
        raise ApiKeyRevoked()
    now = timezone.now()
    if key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyExpired()
    if not key.user.is_active:
        raise AccountInactive()
    ip = ratelimit.ip_or_none(ip)  # an address or nothing: "unknown" or a garbled header is not stored
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY or key.last_used_ip != ip:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip)
        key.last_used_at, key.last_used_ip = now, ip
    return key


def revoke(*, user: User, key_id: int) -> ApiKey:
    """Revoke one of the user's keys at once (a second revoke changes nothing)."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(user=user, pk=key_id).first()
        if key is None:
            raise InvalidKeyRequest("No such key.", user_message="No such key.")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
    return key
