"""Card-testing defence on top-ups (issue 20, item 3).

A stolen-card list is tried against the top-up endpoint from fresh accounts and many addresses, so
besides the per-request rate limit, every top-up is checked here BEFORE anything is created at Stripe:

- the account has confirmed its email (TOPUP_REQUIRE_VERIFIED_EMAIL);
- declines in the current window, counted per account (TOPUP_DECLINE_LIMIT), per client address
  (TOPUP_DECLINE_IP_LIMIT) and per card fingerprint (TOPUP_DECLINE_CARD_LIMIT), are under their limit;
- a brand-new account stays within NEW_ACCOUNT_TOPUP_LIMIT in its first day.

Declines are counted where the app learns of them (record_decline): a declined create-and-confirm
and a 3-D Secure that failed on confirm. The counters are sliding windows in the cache
(netcop_hub.ratelimit.peek_sliding: the declines of the last hour, not of the clock's hour, so a
burst at a window's edge is not counted twice the limit); the new-account cap is read from the database.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Sum
from django.utils import formats, timezone

from netcop_hub import ratelimit
from netcop_hub.config import Rate

from .. import payments
from ..exceptions import (
    EmailNotVerified,
    NewAccountLimitReached,
    PaymentProviderError,
    PaymentProviderUnavailable,
    TooManyDeclines,
)
from ..models import TopUp
from ..money import format_money

logger = logging.getLogger(__name__)

SCOPE = "topup_decline"
# Set while some card has a decline counted in its window: until then no card can be over
# TOPUP_DECLINE_CARD_LIMIT, so a top-up need not read its card's fingerprint before the charge.
CARDS_DECLINED = f"{SCOPE}:cards-declined"
NEW_ACCOUNT_PERIOD = timedelta(days=1)
# Top-ups that count towards the first-day cap: money taken or possibly about to be.
COUNTED = (TopUp.Status.PENDING, TopUp.Status.REQUIRES_ACTION, TopUp.Status.SUCCEEDED)

DECLINES_ACCOUNT = (
    "Several payments from your account were declined, so top-ups are paused for your security. "
    "Nothing was charged. Try again in {wait}, or contact support if you need help sooner."
)
DECLINES_ELSEWHERE = (
    "Too many declined payments came from your network or this card, so top-ups are paused for your "
    "security. Nothing was charged. Try again in {wait}."
)


def needs_verified_email(user) -> bool:
    """True while this account may not top up until it confirms its email address."""
    return bool(settings.TOPUP_REQUIRE_VERIFIED_EMAIL) and getattr(user, "email_verified_at", None) is None


def _budgets(*, user_id, client_ip: str, fingerprint: str = "") -> list[tuple[str, Rate, str]]:
    """(identity, rate, message) for each decline counter that is switched on."""
    budgets = []
    if settings.TOPUP_DECLINE_LIMIT is not None:
        budgets.append((f"user:{user_id}", settings.TOPUP_DECLINE_LIMIT, DECLINES_ACCOUNT))
    if settings.TOPUP_DECLINE_IP_LIMIT is not None and client_ip:
        budgets.append((f"ip:{client_ip}", settings.TOPUP_DECLINE_IP_LIMIT, DECLINES_ELSEWHERE))
    if settings.TOPUP_DECLINE_CARD_LIMIT is not None and fingerprint:
        # Hashed: a card fingerprint is a stable identifier of a card; the cache need not hold it.
        card = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
        budgets.append((f"card:{card}", settings.TOPUP_DECLINE_CARD_LIMIT, DECLINES_ELSEWHERE))
    return budgets


def check_topup_allowed(*, user, amount: Decimal, client_ip: str = "", fingerprint: str = "") -> None:
    """Refuse a customer's top-up before anything is recorded or sent to Stripe.

    Raises EmailNotVerified (403), TooManyDeclines (429, retry_after) or NewAccountLimitReached
    (403, retry_after). Automatic top-ups (auto-recharge, a saved card, no customer present) are not
    checked here: only a card typed into the page can be a test of a stolen card.
    """
    if needs_verified_email(user):
        raise EmailNotVerified
    for ident, rate, message in _budgets(user_id=user.pk, client_ip=client_ip, fingerprint=fingerprint):
        wait = ratelimit.peek_sliding(SCOPE, ident, rate)
        if wait:
            kind = ident.split(":")[0]
            logger.warning("top-up refused for user %s: decline limit reached (%s)", user.pk, kind)
            raise TooManyDeclines(
                f"decline limit {kind}",
                retry_after=wait,
                user_message=message.format(wait=ratelimit.wait_text(wait)),
            )
    _check_new_account(user=user, amount=amount)


def check_card(*, payment_method_id: str) -> str:
    """The card's fingerprint, after refusing it with TooManyDeclines if that card was declined too
    often, whichever account or address tried it. Called after check_topup_allowed, so a refused
    account costs no Stripe call.

    The fingerprint costs a read at Stripe, so it is read only while TOPUP_DECLINE_CARD_LIMIT is on
    AND some card has a decline counted in its window (CARDS_DECLINED): otherwise no card can be over
    the limit and "" is returned; a decline then reads the card's fingerprint to count it
    (record_decline's payment_method_id), unless Stripe's error carried it."""
    if settings.TOPUP_DECLINE_CARD_LIMIT is None or cache.get(CARDS_DECLINED) is None:
        return ""
    fingerprint = _read_fingerprint(payment_method_id)
    if fingerprint:
        for ident, rate, message in _budgets(user_id=None, client_ip="", fingerprint=fingerprint):
            wait = ratelimit.peek_sliding(SCOPE, ident, rate) if ident.startswith("card:") else 0
            if wait:
                logger.warning("top-up refused: card declined too often (%s)", ident)
                raise TooManyDeclines("decline limit card", retry_after=wait,
                                      user_message=message.format(wait=ratelimit.wait_text(wait)))
    return fingerprint


def _read_fingerprint(payment_method_id: str) -> str:
    if not payment_method_id:
        return ""
    try:
        return payments.card_fingerprint(payment_method_id)
    except (PaymentProviderError, PaymentProviderUnavailable):
        # Unknown or unreadable here: the charge itself meets the same answer and says it the usual
        # way (a bad payment method, Stripe unreachable), with the top-up recorded for reconciliation.
        return ""


def _check_new_account(*, user, amount: Decimal) -> None:
    # Read without a lock, like the balance-room check: two attempts racing past it could together
    # pass the cap by at most one top-up, and TOPUP_RATE_LIMIT bounds how many can race at all.
    limit = settings.NEW_ACCOUNT_TOPUP_LIMIT
    if limit is None:
        return
    ends = user.date_joined + NEW_ACCOUNT_PERIOD
    now = timezone.now()
    if now >= ends:
        return
    total = TopUp.objects.filter(user_id=user.pk, status__in=COUNTED).aggregate(s=Sum("amount"))["s"]
    total = total or Decimal("0.00")
    if total + amount <= limit:
        return
    room = max(limit - total, Decimal("0.00"))
    when = formats.date_format(timezone.localtime(ends), "DATETIME_FORMAT")
    now_part = (
        f"You can add up to {format_money(room)} now, or more from {when}."
        if room >= settings.TOPUP_MIN_AMOUNT else f"You can top up again from {when}."
    )
    raise NewAccountLimitReached(
        "new account limit",
        retry_after=int((ends - now).total_seconds()) + 1,
        user_message=f"New accounts can add up to {format_money(limit)} in their first day. {now_part}",
    )


def first_day_room(*, user_id, now=None) -> tuple[Decimal, Decimal] | None:
    """(what a new account may still top up in its first day, NEW_ACCOUNT_TOPUP_LIMIT), or None when
    the cap does not apply (off, or the first day is over). Automatic top-ups stay within it too
    (billing.recharge_amount): the cap is on the first day's total, whichever way it is charged."""
    limit = settings.NEW_ACCOUNT_TOPUP_LIMIT
    if limit is None:
        return None
    joined = get_user_model().objects.filter(pk=user_id).values_list("date_joined", flat=True).first()
    if joined is None or (now or timezone.now()) >= joined + NEW_ACCOUNT_PERIOD:
        return None
    total = TopUp.objects.filter(user_id=user_id, status__in=COUNTED).aggregate(s=Sum("amount"))["s"]
    return max(limit - (total or Decimal("0.00")), Decimal("0.00")), limit


def record_decline(
    *, user_id, client_ip: str = "", fingerprint: str = "", topup_id=None, payment_method_id: str = ""
) -> None:
    """Count one decline against the account, the address and the card (once per top-up: a 3-D
    Secure failure seen again by a repeated confirm is not a second decline). The card is the
    `fingerprint` given (Stripe's error's, or the one read before the charge) or, while
    TOPUP_DECLINE_CARD_LIMIT is on, the one read now for `payment_method_id`."""
    if topup_id is not None and not cache.add(f"{SCOPE}:seen:{topup_id}", 1, timeout=86400):
        return
    card_limit = settings.TOPUP_DECLINE_CARD_LIMIT
    if card_limit is not None and not fingerprint:
        fingerprint = _read_fingerprint(payment_method_id)
    for ident, rate, _ in _budgets(user_id=user_id, client_ip=client_ip, fingerprint=fingerprint):
        ratelimit.count_sliding(SCOPE, ident, rate)
    if card_limit is not None and fingerprint:
        # A bucket counts until its latest hit is a window old: so does this flag (check_card).
        cache.set(CARDS_DECLINED, 1, timeout=card_limit.seconds + 1)
    logger.info("top-up declined for user %s (counted against the card-testing limits)", user_id)
