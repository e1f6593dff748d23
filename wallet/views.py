"""Wallet pages and the card top-up endpoints. Views are thin: parse, call a service, answer.

The two JSON endpoints follow Stripe's webhook-free flow (confirm on the server): the page sends a
PaymentMethod id, the server creates and confirms the PaymentIntent and settles it; when 3-D Secure is
needed the page authenticates with Stripe.js and asks the server to settle again. Error answers carry
fixed, user-facing messages; exception details go to the log only.
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal
from functools import wraps

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import services, stripe_gateway
from .exceptions import (
    InvalidAmount,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
    TopUpError,
    TopUpMismatch,
)
from .models import TopUp
from .money import parse_amount
from .templatetags.money import money

logger = logging.getLogger(__name__)

PRESET_AMOUNTS = (Decimal("50"), Decimal("100"), Decimal("200"))
RECENT_TOPUPS = 5
# Stripe's own test cards, which localstripe treats the same way.
SANDBOX_TEST_CARDS = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0025 0000 3155", "asks for 3-D Secure"),
    ("4000 0000 0000 0341", "is declined"),
)

UNAVAILABLE = (
    "We couldn't reach the payment service. If your card was charged, your wallet will be credited "
    "automatically. Please try again in a moment."
)
PROVIDER_ERROR = "The payment could not be processed. Please try again or use another card."
MISMATCH = "This payment does not match your top-up. Our team has been alerted; nothing was credited."
NOT_FOUND = "No such top-up."
# Stripe object ids (pm_..., card_... from the sandbox's tokens): ASCII letters, digits, underscores.
PAYMENT_METHOD_ID = re.compile(r"[A-Za-z]+_[A-Za-z0-9_]+")


class BadRequest(Exception):
    """A request body we refuse; its message is ours and written for the user."""


def _json_login_required(view):
    """Like login_required, but a JSON 401 instead of a redirect to the login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Please log in again."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _json_object(request) -> dict:
    """The request body as a JSON object; numbers become Decimal (never float), NaN is refused."""
    if request.content_type != "application/json":
        raise BadRequest("Send the request as JSON.")
    try:
        data = json.loads(request.body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting too deep for the decoder (e.g. 100k "["), not a server fault.
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _string_field(data: dict, name: str, max_length: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or not _storable(value):
        raise BadRequest(f"Missing or invalid {name.replace('_', ' ')}.")
    return value.strip()


def _storable(value: str) -> bool:
    """False for text no database column or Stripe call takes: NUL, or a lone surrogate ("\\ud800")."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _error(message: str, http_status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=http_status)


def _balance_fields(user, new_balance: Decimal | None) -> dict:
    if new_balance is None:
        user.refresh_from_db(fields=["wallet_balance"])
        new_balance = user.wallet_balance
    new_balance = Decimal(new_balance).quantize(services.CENT)
    return {"new_balance": str(new_balance), "new_balance_display": money(new_balance)}


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


def _sandbox_js_url() -> str:
    # Read at request time: tests point the app at a localstripe on a free port.
    base = settings.STRIPE_API_BASE or settings.LOCALSTRIPE_URL
    return base.rstrip("/") + "/js.stripe.com/v3/"


def _status_text(topup: TopUp) -> str:
    """ "Pending", "Awaiting authentication", "Failed: <reason>"... for the recent top-ups list."""
    if topup.status == TopUp.Status.FAILED:
        return f"Failed: {_failure_message(topup)}"
    return topup.get_status_display()


@require_GET
@login_required
def topup_page(request):
    """The wallet page: balance, recent top-ups, and the card form."""
    sandbox = settings.STRIPE_SANDBOX
    config = {
        "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
        "createUrl": reverse("wallet:create_payment_intent"),
        "confirmUrl": reverse("wallet:confirm_payment"),
        "currency": settings.WALLET_CURRENCY,
        "minAmount": str(settings.TOPUP_MIN_AMOUNT),
        "maxAmount": str(settings.TOPUP_MAX_AMOUNT),
    }
    context = {
        "presets": [str(p.quantize(services.CENT)) for p in PRESET_AMOUNTS],
        "prefill": _prefill_amount(request.GET.get("amount")),
        "min_amount": settings.TOPUP_MIN_AMOUNT,
        "max_amount": settings.TOPUP_MAX_AMOUNT,
        "topup_config": config,
        "recent_topups": [
            {"topup": topup, "status_text": _status_text(topup)}
            for topup in TopUp.objects.filter(user=request.user)[:RECENT_TOPUPS]
        ],
        "sandbox": sandbox,
        "sandbox_js_url": _sandbox_js_url() if sandbox else "",
        "test_cards": SANDBOX_TEST_CARDS if sandbox else (),
    }
    response = render(request, "wallet/topup.html", context)
    if sandbox:
        # The Content-Security-Policy allows Stripe's own origins; in the sandbox this page also
        # loads localstripe's Stripe.js and talks to it, from wherever it runs right now.
        origin = _sandbox_js_url().split("/js.stripe.com/", 1)[0]
        response._csp_update = {"script-src": [origin], "frame-src": [origin], "connect-src": [origin]}
    return response


@require_POST
@_json_login_required
def create_payment_intent(request):
    """Start a top-up: create and confirm a PaymentIntent for a PaymentMethod made by Stripe.js."""
    try:
        data = _json_object(request)
        # The one amount rule (wallet.money): a JSON string or number; anything else is refused.
        try:
            amount = parse_amount(data.get("amount"))
        except InvalidAmount as exc:
            raise BadRequest(str(exc)) from None
        payment_method_id = _string_field(data, "payment_method_id", 255)
        if not PAYMENT_METHOD_ID.fullmatch(payment_method_id):
            raise BadRequest("Missing or invalid payment method id.")
        idempotency_key = _string_field(data, "idempotency_key", 64)
    except BadRequest as exc:
        return _error(str(exc), 400)

    try:
        result = services.start_topup(
            user=request.user,
            amount=amount,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )
    except InvalidAmount as exc:
        # Our own validation texts, written for users ("Top-ups must be between ...").
        return _error(str(exc), 400)
    except TopUpMismatch:
        return _error(MISMATCH, 409)
    except TopUp.DoesNotExist:
        # The intent Stripe returned is not the one recorded on this top-up (cannot happen with
        # Stripe's idempotency; reconcile sorts it out). Never a 500.
        logger.error(
            "topup for user %s: intent does not match the top-up (key %s)", request.user.pk, idempotency_key
        )
        return _error(MISMATCH, 409)
    except TopUpError as exc:
        # Raised by start_topup before any Stripe call, with messages we wrote for users.
        return _error(str(exc), 400)
    except PaymentDeclined as exc:
        return _error(exc.user_message or "Your card was declined.", 402)
    except PaymentProviderUnavailable:
        # The TopUp stays pending; reconcile_topups finds out later whether an intent exists.
        logger.warning("topup for user %s: Stripe unavailable (key %s)", request.user.pk, idempotency_key)
        return _error(UNAVAILABLE, 503)
    except PaymentProviderError as exc:
        if _payment_method_refused(exc):
            # Stripe refused the request itself (400/404): the client's payment method id is the
            # one free parameter, so this is the client's error, answered like a decline.
            return _error(PROVIDER_ERROR, 402)
        logger.error("topup for user %s: Stripe refused (key %s)", request.user.pk, idempotency_key)
        return _error(PROVIDER_ERROR, 502)
    return _topup_answer(request, result)


def _payment_method_refused(exc: PaymentProviderError) -> bool:
    """True when Stripe answered invalid_request (e.g. no such PaymentMethod), not auth or outage."""
    cause = exc.__cause__
    return isinstance(cause, stripe.InvalidRequestError) and getattr(cause, "http_status", None) in (400, 404)


def _topup_answer(request, result: services.SettleResult) -> JsonResponse:
    """Answer create-payment-intent with the top-up's state (a replayed key lands here too)."""
    topup = result.topup
    base = {"topup_id": str(topup.id), "payment_intent_id": topup.stripe_payment_intent_id or ""}
    if topup.status == TopUp.Status.SUCCEEDED:
        return JsonResponse(
            {
                "status": "succeeded",
                **base,
                **_balance_fields(request.user, result.new_balance),
                "message": _success_message(topup),
            }
        )
    if topup.status == TopUp.Status.REQUIRES_ACTION:
        # SettleResult does not carry the intent; fetch it for the client secret (never logged).
        try:
            intent = stripe_gateway.retrieve_intent(topup.stripe_payment_intent_id)
        except PaymentProviderUnavailable:
            return _error(UNAVAILABLE, 503)
        except PaymentProviderError:
            return _error(PROVIDER_ERROR, 502)
        return JsonResponse(
            {"status": "requires_action", **base, "client_secret": intent.client_secret}
        )
    if topup.status == TopUp.Status.FAILED:
        return _error(_failure_message(topup), 402, status="failed")
    if topup.status == TopUp.Status.CANCELED:
        return _error("The payment was canceled.", 400, status="canceled")
    # Pending: Stripe is still processing, or an earlier request with this key is in flight.
    return JsonResponse(
        {
            "status": "processing",
            **base,
            "message": "Your payment is being processed. Your balance will update when it completes.",
        },
        status=202,
    )


@require_POST
@_json_login_required
def confirm_payment(request):
    """After 3-D Secure in the page: fetch the intent from Stripe and settle the user's top-up."""
    try:
        data = _json_object(request)
        intent_id = _string_field(data, "payment_intent_id", 255)
    except BadRequest as exc:
        return _error(str(exc), 400)
    # Ownership first: never ask Stripe about an intent that is not one of this user's top-ups.
    if not TopUp.objects.filter(user=request.user, stripe_payment_intent_id=intent_id).exists():
        return _error(NOT_FOUND, 404)
    try:
        intent = stripe_gateway.retrieve_intent(intent_id)
        result = services.settle_topup(intent=intent, user=request.user)
    except TopUp.DoesNotExist:
        return _error(NOT_FOUND, 404)
    except TopUpMismatch:
        return _error(MISMATCH, 409)  # settle_topup logged both sides of the mismatch
    except PaymentProviderUnavailable:
        logger.warning("confirm %s for user %s: Stripe unavailable", intent_id, request.user.pk)
        return _error(UNAVAILABLE, 503)
    except PaymentProviderError:
        return _error(PROVIDER_ERROR, 502)

    topup = result.topup
    if topup.status == TopUp.Status.SUCCEEDED:
        return JsonResponse(
            {
                "success": True,
                "status": "succeeded",
                **_balance_fields(request.user, result.new_balance),
                "message": _success_message(topup),
            }
        )
    messages = {
        TopUp.Status.REQUIRES_ACTION: "Card authentication was not completed. Please try again.",
        TopUp.Status.PENDING: "Your payment is still processing. Your balance will update when it completes.",
        TopUp.Status.CANCELED: "The payment was canceled.",
    }
    if topup.status == TopUp.Status.FAILED:
        message = _failure_message(topup)
    else:
        message = messages.get(topup.status, "The payment was not completed.")
    return _error(message, 400, status=topup.status)


def _failure_message(topup: TopUp) -> str:
    reason = topup.failure_reason or "The payment was not completed."
    # Stripe's authentication-failure text is written for developers ("The provided PaymentMethod
    # has failed authentication..."); decline texts are customer-facing and shown as they are.
    if "authenticat" in reason.lower():
        return "Card authentication failed, so nothing was charged. Try again or use another card."
    return reason


@require_GET
@_json_login_required
def balance(request):
    """The signed-in user's balance as JSON (for refreshing the nav; also the benchmarks' baseline)."""
    amount = request.user.wallet_balance
    return JsonResponse(
        {"balance": str(amount), "currency": settings.WALLET_CURRENCY, "display": money(amount)}
    )
