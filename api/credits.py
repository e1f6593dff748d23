"""/api/v1/promo-codes/redeem: redeem a promo code for the key's account (issue 23, item 4), through
the same service as the wallet page (wallet.services.credits.redeem_code): idempotent (a second
redemption of a code answers the first one, 200), race-safe, and rate-limited per account by
PROMO_REDEEM_RATE_LIMIT as on the page, so a key cannot guess codes faster than a person."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from authentication.models import ApiKeyScope
from netcop_hub import ratelimit
from wallet.services import credits

from .auth import require
from .params import ERRORS
from .problems import RateLimited
from .schemas import Problem

router = Router(tags=["credits"])


class RedeemIn(Schema):
    code: str = Field(max_length=64, examples=["WELCOME10"], description="The promo code (any case).")


class RedemptionOut(Schema):
    code: str = Field(examples=["WELCOME10"])
    amount: str = Field(examples=["10.00"], description="Promotional credit added (decimal string).")
    currency: str = Field(description="ISO 4217 code of the wallet (WALLET_CURRENCY).")
    expires_at: str | None = Field(None, description="When this credit expires (ISO 8601), or null.")
    redeemed_at: str
    new: bool = Field(description="False when this account had redeemed the code before (nothing added now).")


@router.post(
    "/redeem",
    response={200: RedemptionOut, 201: RedemptionOut, 400: Problem, **ERRORS},
    summary="Redeem a promo code (promotional credit, once per account)",
    operation_id="api_v1_redeem_promo_code",
    url_name="redeem_promo_code",
)
def redeem(request: HttpRequest, payload: RedeemIn):
    """201 with the credit added; 200 with the earlier redemption when this account already
    redeemed the code (nothing added); 400 promo_code_refused with the reason in words."""
    key = require(request, ApiKeyScope.CREDITS_REDEEM)
    rate = getattr(settings, "PROMO_REDEEM_RATE_LIMIT", None)
    if rate is not None:
        # The page's budget (same scope and counter): one account guesses no faster through the API.
        wait = ratelimit.hit("promo_redeem", f"user:{key.user_id}", rate)
        if wait:
            raise RateLimited(retry_after=wait)
    result = credits.redeem_code(user=key.user, code=payload.code)
    row = result.redemption
    body = RedemptionOut(
        code=row.code.code,
        amount=f"{result.amount:.2f}",
        currency=settings.WALLET_CURRENCY,
        expires_at=row.lot.expires_at.isoformat() if row.lot.expires_at else None,
        redeemed_at=row.created_at.isoformat(),
        new=result.created,
    )
    return Status(201 if result.created else 200, body)
