"""Email verification (issue 20, card testing): a signed, expiring link proves the account owns its
address before its first top-up.

The token signs the account id and a hash of its email with Django's TimestampSigner (SECRET_KEY, a
salt of its own): nothing is stored, a link for another address or account cannot be forged, and
EMAIL_VERIFICATION_MAX_AGE bounds its life. Opening it twice is harmless.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import signals

SALT = "netcop.authentication.verify-email"


class LinkExpired(Exception):
    """A genuine link past EMAIL_VERIFICATION_MAX_AGE: a new one can be sent."""


class LinkInvalid(Exception):
    """Not a link we made (tampered, truncated, or for an address the account no longer has)."""


def _email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20]


def token_for(user) -> str:
    return signing.TimestampSigner(salt=SALT).sign(f"{user.pk}.{_email_hash(user.email)}")


def link_for(user) -> str:
    """The absolute link the email carries (SITE_URL, never the request's Host)."""
    return settings.SITE_URL + reverse("authentication:verify_email", args=[token_for(user)])


def confirm(token: str):
    """The account a link confirms, now marked verified. Raises LinkExpired or LinkInvalid."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign(token, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    user_id, _, email_hash = value.partition(".")
    user = get_user_model().objects.filter(pk=int(user_id) if user_id.isdigit() else 0).first()
    if user is None or _email_hash(user.email) != email_hash:
        raise LinkInvalid
    mark_verified(user=user)
    return user


def mark_verified(*, user) -> None:
    """Record that the account owns its address (once; the first confirmation's time stays)."""
    now = timezone.now()
    get_user_model().objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=now)
    if user.email_verified_at is None:
        user.email_verified_at = now


def send_link(*, user) -> None:
    """Ask for a verification email after commit (the wallet's email task sends it, retried, once)."""
    transaction.on_commit(lambda: signals.verification_requested.send(sender=type(user), user=user))
