"""Two-factor authentication for staff (issue 20, item 5; ADMIN_REQUIRE_2FA).

Staff hold money powers (adjustments, refunds to card, holds): a password alone must not open them.
With django-otp, every staff account has a TOTP authenticator (RFC 6238) and ten one-time recovery
codes. AdminTwoFactorMiddleware lets no admin page open for a staff session that has not passed its
second factor: it sends it to enrolment (first log-in) or to the code prompt (every log-in after).

Wrong codes are limited per account (ADMIN_2FA_RATE_LIMIT, fixed windows in the cache): past the
limit even a right code waits, so six digits cannot be guessed. django-otp's own per-device throttle
is off (settings), because its exponential delay refuses a right code typed a second after a typo
without being able to say for how long.
"""

from __future__ import annotations

import io
from base64 import b32encode
from urllib.parse import quote

import qrcode
from django.conf import settings
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.image.svg import SvgPathImage

from netcop_hub import ratelimit

RECOVERY_CODES = 10
SCOPE = "admin_2fa"
APP_DEVICE = "Authenticator app"
RECOVERY_DEVICE = "Recovery codes"


def required_for(user) -> bool:
    return bool(settings.ADMIN_REQUIRE_2FA) and user.is_authenticated and user.is_staff


def is_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_device(user) -> TOTPDevice:
    """The authenticator being enrolled: the same secret on every reload until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an SVG QR code (markup, no image request, no script: CSP-safe)."""
    out = io.BytesIO()
    # One <path> in a plain <svg> (the default SVG factory writes "svg:"-prefixed elements, which an
    # HTML page does not draw inline).
    qrcode.make(device.config_url, image_factory=SvgPathImage, border=2).save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg"):]  # without the XML declaration, to sit inline in the page


def secret_text(device: TOTPDevice) -> str:
    """The base32 secret, in groups of four for typing into an app by hand."""
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def locked_for(user) -> int:
    """Seconds the account must wait before another code is checked (0: go ahead)."""
    rate = settings.ADMIN_2FA_RATE_LIMIT
    return ratelimit.peek(SCOPE, f"user:{user.pk}", rate) if rate is not None else 0


def _failed(user) -> None:
    rate = settings.ADMIN_2FA_RATE_LIMIT
    if rate is not None:
        ratelimit.count(SCOPE, f"user:{user.pk}", rate)


def _clean(code: str) -> str:
    return "".join(str(code or "").split()).lower()


def confirm_enrolment(*, user, code: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the pending authenticator with a code from it; returns it and new recovery codes
    (shown once, then only their use is possible), or None for a wrong code (counted)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or not device.verify_token(_clean(code)):
        _failed(user)
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One authenticator per account: an older one (re-enrolment by staff reset) stops working.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = new_recovery_codes(user=user)
    return device, codes


def new_recovery_codes(*, user) -> list[str]:
    """Replace the account's recovery codes with RECOVERY_CODES new ones."""
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
    return codes


def check_code(*, user, code: str) -> tuple[TOTPDevice | StaticDevice, bool] | None:
    """The device a code proves (and whether it was a recovery code), or None (the failure counts).

    A TOTP code is accepted once per time step (django-otp remembers the last one). A recovery code
    is deleted by the one DELETE that finds it: two requests racing with the same code cannot both
    pass.
    """
    code = _clean(code)
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if code.isdigit() and _verify_locked(device, code):
            return device, False
    token = StaticToken.objects.filter(device__user=user, device__confirmed=True, token=code).first()
    if token is not None and StaticToken.objects.filter(pk=token.pk).delete()[0] == 1:
        return token.device, True
    _failed(user)
    return None


def _verify_locked(device: TOTPDevice, code: str) -> bool:
    """django-otp's check under the device's row lock: verify_token reads the last used time step,
    checks the code past it and saves; unlocked, two requests with one code both read the old step
    and both passed. Locked, the second reads the step the first recorded, and fails."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().filter(pk=device.pk).first()
        return locked is not None and locked.verify_token(code)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def mark_verified(request, device) -> None:
    """This session passed its second factor: a new session key (no fixation), then django-otp's login."""
    request.session.cycle_key()
    otp_login(request, device)


class AdminTwoFactorMiddleware:
    """No admin page for a staff session without a verified second factor (after OTPMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        admin_root = reverse("admin:index")
        user = getattr(request, "user", None)
        if (
            user is not None
            and request.path.startswith(admin_root)
            and request.path != reverse("admin:logout")
            and required_for(user)
            and not user.is_verified()
        ):
            step = "verify" if is_enrolled(user) else "setup"
            page = reverse(f"authentication:two_factor_{step}")
            return redirect(f"{page}?next={quote(request.get_full_path())}")
        return self.get_response(request)
