"""Wallet pages and the card top-up endpoints. Views are thin: parse, call a service, answer.

The two JSON endpoints follow Stripe's webhook-free flow (confirm on the server): the page sends a
PaymentMethod id, the server creates and confirms the PaymentIntent and settles it; when 3-D Secure is
needed the page authenticates with Stripe.js and asks the server to settle again. Error answers carry
fixed, user-facing messages; exception details go to the log only.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from netcop_hub import http, ratelimit

from . import return_targets, services
from .exceptions import NOTHING_CHARGED, InvalidAmount, TopUpMismatch, TopUpNotFound
from .models import CardRefund, TopUp
from .money import TOO_LARGE_MESSAGE, parse_amount, topup_range_message
from .templatetags.money import money

logger = logging.getLogger(__name__)

PRESET_AMOUNTS = (Decimal("50"), Decimal("100"), Decimal("200"))
RECENT_TOPUPS = 5
# Stripe object ids (pm_..., card_... from the sandbox's tokens): ASCII letters, digits, underscores.
PAYMENT_METHOD_ID = re.compile(r"[A-Za-z]+_[A-Za-z0-9_]+")


def _balance_fields(user, new_balance: Decimal | None) -> dict:
    """The balance in the one vocabulary of every JSON answer: `balance` and `balance_display`."""
    if new_balance is None:
        user.refresh_from_db(fields=["wallet_balance"])
        new_balance = user.wallet_balance
    new_balance = Decimal(new_balance).quantize(services.CENT)
    return {"balance": str(new_balance), "balance_display": money(new_balance)}


def _success_message(topup: TopUp) -> str:
    return f"{money(topup.amount, topup.currency)} was added to your wallet."


def _prefill_amount(raw: str | None) -> str:
    """A `?amount=` value made safe: what the amount rule refuses is ignored, the rest clamped to min..max."""
    if not raw or len(raw) > 32:
        return ""
    try:
        value = parse_amount(raw)
    except InvalidAmount:
        return ""
    low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
    return str(min(max(value, low), high).quantize(services.CENT))


def _recent_row(topup: TopUp) -> dict:
    """One line of "Recent top-ups": a short badge, the reason as secondary text, and what can be done."""
    reason = ""
    if topup.status == TopUp.Status.FAILED:
        reason = _failure_message(topup)
    elif topup.status == TopUp.Status.RETURNED:
        reason = topup.failure_reason
    elif topup.status == TopUp.Status.REQUIRES_ACTION:
        reason = "Your bank is waiting for you to confirm this payment."
    badge = "Failed" if topup.status == TopUp.Status.FAILED else topup.get_status_display()
    badge_class = topup.status
    # Money sent back to the card from this top-up (the prefetched refunds that took money out of
    # the wallet): the row says so, or the list would show 100.00 "Succeeded" after 20.00 went back.
    refunded = pending = Decimal("0.00")
    for refund in topup.refunds.all():
        if refund.status == CardRefund.Status.SUCCEEDED:
            refunded += refund.amount
        elif refund.status == CardRefund.Status.PENDING:
            pending += refund.amount
    refund_lines = []
    if refunded:
        refund_lines.append(f"Refunded {money(refunded, topup.currency)} to your card.")
    if pending:
        refund_lines.append(f"{money(pending, topup.currency)} is on its way back to your card.")
    if refunded + pending:
        full = refunded + pending >= topup.amount
        badge, badge_class = ("Refunded", "refunded") if full else ("Partly refunded", "partly_refunded")
    # Issue 20: a top-up the bank took back (a dispute applied, not reinstated) is not "Succeeded".
    taken = [d for d in topup.disputes.all() if d.withdrawn_at is not None and d.reinstated_at is None]
    if taken:
        badge, badge_class = "Disputed", "disputed"
        refund_lines.append(
            f"Disputed with your bank: {money(sum(d.amount for d in taken), topup.currency)} taken back."
        )
    # Only a top-up Stripe is holding at 3-D Secure can be finished or canceled from here.
    actionable = topup.status == TopUp.Status.REQUIRES_ACTION and bool(topup.stripe_payment_intent_id)
    return {
        "topup": topup,
        "badge": badge,
        "badge_class": badge_class,
        "reason": reason,
        "refund": " ".join(refund_lines),
        "actionable": actionable,
    }


@require_GET
@login_required
def topup_page(request):
    """The wallet page: balance, recent top-ups, and the card form."""
    browser = services.browser_config()
    prefill = _prefill_amount(request.GET.get("amount"))
    # Came from an agent that needs more balance (/wallet/?amount=...&next=/agents/<slug>/).
    target = return_targets.resolve_next(request.GET.get("next"))
    back = None
    if target is not None:
        balance = request.user.wallet_balance
        need = max(target.price - balance, Decimal(0)).quantize(services.CENT)
        back = {"agent": target, "url": target.url, "need": need, "balance": balance}
        # At least what a run needs: a smaller top-up could not run the agent anyway.
        if need and (not prefill or Decimal(prefill) < need):
            prefill = _prefill_amount(str(need))
    config = {
        "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
        "createUrl": reverse("wallet:create_payment_intent"),
        "confirmUrl": reverse("wallet:confirm_payment"),
        "currency": settings.WALLET_CURRENCY,
        "minAmount": str(settings.TOPUP_MIN_AMOUNT),
        "maxAmount": str(settings.TOPUP_MAX_AMOUNT),
        "rangeMessage": topup_range_message(),
    }
    context = {
        # Issue 20: an account that has not confirmed its email sees why it cannot top up (and a
        # "send the link again" button) instead of the card form.
        "email_unverified": services.needs_verified_email(request.user),
        # Issue 23: paid and promotional money and the next expiry (one aggregate query).
        "credits": services.credit_balances(request.user.pk),
        "presets": [str(p.quantize(services.CENT)) for p in PRESET_AMOUNTS],
        "prefill": prefill,
        "back": back,
        "min_amount": settings.TOPUP_MIN_AMOUNT,
        "max_amount": settings.TOPUP_MAX_AMOUNT,
        "topup_config": config,
        "recent_topups": [
            _recent_row(topup)
            for topup in TopUp.objects.filter(user=request.user).prefetch_related(
                Prefetch("refunds", queryset=CardRefund.objects.exclude(status=CardRefund.Status.FAILED)),
                "disputes",
            )[:RECENT_TOPUPS]
        ],
        "sandbox": browser.sandbox,
        "sandbox_js_url": browser.js_url,
        "test_cards": browser.test_cards,
    }
    response = render(request, "wallet/topup.html", context)
    if browser.csp_origins:
        # The Content-Security-Policy allows Stripe's own origins; a backend with its own Stripe.js
        # (the sandbox's localstripe) adds where it runs right now.
        origins = list(browser.csp_origins)
        response._csp_update = {  # type: ignore[attr-defined]  # django-csp reads this attribute
            "script-src": origins, "frame-src": origins, "connect-src": origins
        }
    return response


@require_POST
@http.json_login_required
def create_payment_intent(request):
    """Start a top-up: create and confirm a PaymentIntent for a PaymentMethod made by Stripe.js.

    Domain errors (a bad body, a decline, Stripe unreachable...) answer for themselves (netcop_hub.http).
    """
    data = http.json_body(request)
    # The one amount rule (wallet.money): a JSON string or number; anything else is refused.
    try:
        amount = parse_amount(data.get("amount"))
    except InvalidAmount as exc:
        # Too many digits is out of the top-up range: said as the range, like the page says it.
        too_large = str(exc) == TOO_LARGE_MESSAGE
        raise http.BadRequest(topup_range_message() if too_large else exc.user_message) from None
    payment_method_id = http.string_field(data, "payment_method_id", 255)
    if not PAYMENT_METHOD_ID.fullmatch(payment_method_id):
        raise http.BadRequest("Missing or invalid payment method id.")
    idempotency_key = http.string_field(data, "idempotency_key", 64)
    save_card = data.get("save_card", False)
    if not isinstance(save_card, bool):
        raise http.BadRequest("save_card must be true or false.")

    try:
        result = services.start_topup(
            user=request.user,
            amount=amount,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
            save_card=save_card,
            client_ip=ratelimit.client_ip(request),  # issue 20: the payment's IP, for dispute evidence
        )
    except TopUp.DoesNotExist:
        # The intent Stripe returned is not the one recorded on this top-up (cannot happen with
        # Stripe's idempotency; reconcile sorts it out). Never a 500.
        logger.error(
            "topup for user %s: intent does not match the top-up (key %s)", request.user.pk, idempotency_key
        )
        raise TopUpMismatch("intent does not match the top-up") from None
    return _outcome(request, result, after_authentication=False)


NOT_AUTHENTICATED = "Card authentication was not completed. Please try again."
PROCESSING = "Your payment is being processed. Your balance will update when it completes."


def _outcome(request, result: services.SettleResult, *, after_authentication: bool) -> JsonResponse:
    """The one answer both top-up endpoints give for a top-up's state (a replayed key lands here too).

    Always `status` (succeeded, requires_action, processing, failed, canceled, returned), `topup_id`,
    `payment_intent_id` and `message`; plus the new balance on success, the client secret when the
    page must authenticate, and `error` (= message) on the 4xx outcomes.
    """
    topup = result.topup
    base = {"topup_id": str(topup.id), "payment_intent_id": topup.stripe_payment_intent_id or ""}

    def final_error(status: str, message: str, http_status: int) -> JsonResponse:
        body = {"status": status, **base, "message": message, "error": message}
        return http.json_response(body, http_status)

    if topup.status == TopUp.Status.SUCCEEDED:
        return http.json_response(
            {
                "status": "succeeded",
                **base,
                "message": _success_message(topup),
                **_balance_fields(request.user, result.new_balance),
            }
        )
    if topup.status == TopUp.Status.REQUIRES_ACTION:
        if after_authentication:
            # The page ran 3-D Secure and Stripe still wants it: the customer did not finish it.
            return final_error("requires_action", NOT_AUTHENTICATED, 400)
        # The secret came with the intent settle_topup just read: no second Stripe call (never logged).
        return http.json_response(
            {
                "status": "requires_action",
                **base,
                "message": "Your bank asks you to confirm this payment.",
                "client_secret": result.client_secret,
            }
        )
    if topup.status == TopUp.Status.FAILED:
        return final_error("failed", _failure_message(topup), 402)
    if topup.status == TopUp.Status.CANCELED:
        return final_error("canceled", "The payment was canceled.", 400)
    if topup.status == TopUp.Status.RETURNED:
        # Collected, but past the wallet's bound: settle_topup sends it back to the card.
        return final_error("returned", topup.failure_reason or "The payment was returned to your card.", 409)
    # Pending: Stripe is still processing, or an earlier request with this key is in flight.
    return http.json_response({"status": "processing", **base, "message": PROCESSING}, 202)


@require_POST
@http.json_login_required
def confirm_payment(request):
    """After 3-D Secure in the page: fetch the intent from Stripe and settle the user's top-up."""
    intent_id = http.string_field(http.json_body(request), "payment_intent_id", 255)
    # Ownership first: never ask Stripe about an intent that is not one of this user's top-ups.
    if not TopUp.objects.filter(user=request.user, stripe_payment_intent_id=intent_id).exists():
        raise TopUpNotFound
    return _settle_from_stripe(request, intent_id, after_authentication=True)


def _settle_from_stripe(request, intent_id: str, *, after_authentication: bool) -> JsonResponse:
    """Read the user's top-up's intent from Stripe, settle it and answer its outcome."""
    try:
        result = services.finish_topup(user=request.user, intent_id=intent_id,
                                       client_ip=ratelimit.client_ip(request))
    except TopUp.DoesNotExist:
        raise TopUpNotFound from None
    return _outcome(request, result, after_authentication=after_authentication)


CANCELED = "Top-up canceled. Nothing was charged."
NOT_CANCELABLE = "This top-up can no longer be canceled."


def _own_topup(request, topup_id) -> TopUp | None:
    """The signed-in user's top-up with this id that has a PaymentIntent, else None (answered 404)."""
    return (
        TopUp.objects.filter(user=request.user, pk=topup_id, stripe_payment_intent_id__isnull=False).first()
    )


@require_POST
@http.json_login_required
def resume_topup(request, topup_id):
    """"Finish authentication" for a top-up left at 3-D Secure: its state now, with the client secret
    when Stripe still waits for the cardholder (the page then runs Stripe.js and confirm-payment).

    The state is read from Stripe and settled first: the customer may have finished in another tab.
    """
    topup = _own_topup(request, topup_id)  # owner checked here; the browser only names an id
    intent_id = topup.stripe_payment_intent_id if topup is not None else None
    if topup is None or not intent_id:
        raise TopUpNotFound
    if topup.is_final:
        settled = services.SettleResult(topup=topup, credited_now=False)
        return _outcome(request, settled, after_authentication=True)
    return _settle_from_stripe(request, intent_id, after_authentication=False)


def _not_cancelable(status: str, base: dict) -> JsonResponse:
    body = {"status": status, **base, "message": NOT_CANCELABLE, "error": NOT_CANCELABLE}
    return http.json_response(body, 409)


@require_POST
@http.json_login_required
def cancel_topup(request, topup_id):
    """"Cancel" for a top-up left at 3-D Secure: cancel its PaymentIntent, then settle what Stripe says.

    The Stripe call runs outside any transaction; the top-up's new state is written by
    services.settle_topup only. If Stripe refuses because the payment went through meanwhile, the
    intent is read back and settled, so the customer is credited rather than told it was canceled.
    """
    topup = _own_topup(request, topup_id)  # owner checked here; the browser only names an id
    intent_id = topup.stripe_payment_intent_id if topup is not None else None
    if topup is None or not intent_id:
        raise TopUpNotFound
    base = {"topup_id": str(topup.id), "payment_intent_id": intent_id}
    if topup.status == TopUp.Status.CANCELED:  # a repeated click: already done
        return http.json_response({"status": "canceled", **base, "message": CANCELED})
    if topup.status != TopUp.Status.REQUIRES_ACTION:
        return _not_cancelable(topup.status, base)
    try:
        result = services.cancel_topup(user=request.user, intent_id=intent_id)
    except TopUp.DoesNotExist:
        raise TopUpNotFound from None
    if result.topup.status == TopUp.Status.CANCELED:
        return http.json_response({"status": "canceled", **base, "message": CANCELED})
    if result.topup.status == TopUp.Status.REQUIRES_ACTION:
        return _not_cancelable("requires_action", base)
    return _outcome(request, result, after_authentication=True)


def _failure_message(topup: TopUp) -> str:
    reason = topup.failure_reason or "The payment was not completed."
    # Stripe's authentication-failure text is written for developers ("The provided PaymentMethod
    # has failed authentication..."); decline texts are customer-facing and shown as they are.
    if "authenticat" in reason.lower():
        return "Card authentication failed, so nothing was charged. Try again or use another card."
    # A failed payment never captured anything: say so, as a decline at once does (PaymentDeclined),
    # also for a decline after 3-D Secure and for reasons stored before that wording.
    return reason if NOTHING_CHARGED in reason else f"{reason} {NOTHING_CHARGED}"


@require_GET
@http.json_login_required
def balance(request):
    """The signed-in user's balance as JSON (for refreshing the nav; also the benchmarks' baseline)."""
    amount = request.user.wallet_balance
    body = {"balance": str(amount), "balance_display": money(amount), "currency": settings.WALLET_CURRENCY}
    since = request.GET.get("automatic_since", "")
    if since.isdigit() and len(since) <= 12:
        # The nav's poller (auto-recharge on) says what moved the balance: the automatic top-up
        # credited since the page was shown (issue 18, item 11).
        latest = (TopUp.objects.filter(user=request.user, is_automatic=True, status=TopUp.Status.SUCCEEDED,
                                       updated_at__gte=datetime.fromtimestamp(int(since), tz=UTC))
                  .order_by("-updated_at").first())
        body["automatic_topup"] = latest.automatic_label if latest else None
    return http.json_response(body)
