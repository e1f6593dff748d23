"""Customer emails: top-up receipts and card-refund notices.

A money transaction only *enqueues* its email, after commit (`enqueue_email`); a task worker renders
it from the database and sends it (`send_email`, the task, defined here beside what it sends so
enqueuing never imports upward), retrying while the mail server is down. Neither a queue outage nor
a mail outage can affect the payment that caused the email.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, mail_admins, send_mail
from django.db import IntegrityError, transaction
from django.template import Context, Engine
from django.urls import reverse
from django.utils import timezone
from django_tasks import task
from django_tasks.exceptions import InvalidTaskError

from authentication import verification

from .models import (
    BillingSettings,
    CardRefund,
    CreditLot,
    Dispute,
    EarlyFraudWarning,
    SentEmail,
    TopUp,
    WalletTransaction,
)
from .money import format_money

logger = logging.getLogger(__name__)

TOPUP_RECEIPT = "topup_receipt"
CARD_REFUND = "card_refund"
# Issue 14. Object ids: the failed TopUp; "<user id>:<paused at>"; "<user id>:<YYYY-MM>"; the ledger
# row that crossed the alert. Each id names one occurrence, so each is sent once (SentEmail).
AUTO_RECHARGE_FAILED = "auto_recharge_failed"
AUTO_RECHARGE_PAUSED = "auto_recharge_paused"
AUTO_RECHARGE_LIMIT = "auto_recharge_limit"
LOW_BALANCE = "low_balance"
# Issue 18. Object id "<user id>:<unix time of the change>": one email per change.
PASSWORD_CHANGED = "password_changed"  # nosec B105 - an email kind, not a password
# Issue 20. Object ids: the Dispute; the EarlyFraudWarning (to ops, through mail_admins).
DISPUTE_OPENED = "dispute_opened"
FRAUD_WARNING_OPS = "fraud_warning_ops"
# Issue 20. Object id "<user id>:<request time in ns>": one email per request.
VERIFY_EMAIL = "verify_email"
# Issue 23. Object id: the CreditLot about to expire (warned once, 7 days before).
CREDIT_EXPIRING = "credit_expiring"


# --- hooks for apps above the wallet (issue 22: documents) ---------------------------------------
# The wallet cannot import the apps above it; they register here from their AppConfig.ready():
# files to attach to an email kind, and email kinds of their own that send_email delivers (retried,
# sent once) like the wallet's. An attachment provider returns [(filename, content, mimetype)].
AttachmentProvider = Callable[[str], list[tuple[str, bytes, str]]]
ATTACHMENTS: dict[str, AttachmentProvider] = {}
KINDS: dict[str, Callable[[str], bool]] = {}


def register_attachments(kind: str, provider: AttachmentProvider) -> None:
    ATTACHMENTS[kind] = provider


def register_kind(kind: str, sender: Callable[[str], bool]) -> None:
    """`sender(object_id)` sends the email and returns False when there is nothing to send."""
    KINDS[kind] = sender


def _attachments(kind: str, object_id) -> list[tuple[str, bytes, str]]:
    provider = ATTACHMENTS.get(kind)
    return provider(str(object_id)) if provider else []
# --- end of the hooks ------------------------------------------------------------------------------


def enqueue_email(kind: str, object_id) -> None:
    """Hand an email to the task queue (call it in transaction.on_commit); a queue outage is logged."""
    try:
        send_email.enqueue(kind, str(object_id))
    except Exception:  # noqa: BLE001 - the payment is done; a lost email must not undo it
        logger.exception("could not enqueue %s email for %s", kind, object_id)


def on_password_changed(sender, *, user, **kwargs) -> None:
    """Receiver of authentication.signals.password_changed (sent after commit): email the owner."""
    enqueue_email(PASSWORD_CHANGED, f"{user.pk}:{int(time.time())}")


def on_verification_requested(sender, *, user, **kwargs) -> None:
    """Receiver of authentication.signals.verification_requested (sent after commit)."""
    enqueue_email(VERIFY_EMAIL, f"{user.pk}:{time.time_ns()}")


def send_verification(object_id: str) -> bool:
    """The link that confirms an address; nothing once it is confirmed (a late retry sends nothing)."""
    user_id = str(object_id).partition(":")[0]
    user = get_user_model().objects.filter(pk=int(user_id) if user_id.isdigit() else 0).first()
    if user is None or user.email_verified_at is not None:
        return False
    context = {"name": user.username, "link": verification.link_for(user),
               "lifetime": settings.EMAIL_VERIFICATION_MAX_AGE}
    send_mail(
        subject="Confirm your email address for NetCop Wallet",
        message=render_text("registration/verify_email_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def render_text(template_name: str, context: dict) -> str:
    """Render a plain-text email. Without autoescaping: HTML escaping is for HTML, and in a text email
    it would show a name such as "Tom & Jerry's" as "Tom &amp; Jerry&#x27;s"."""
    return Engine.get_default().get_template(template_name).render(Context(context, autoescape=False))


def send_topup_receipt(*, topup: TopUp) -> None:
    """Send the receipt for a credited top-up: amount, new balance, date and transaction id."""
    user, entry = topup.user, topup.credit_transaction
    context = {"topup": topup, "entry": entry, "name": user.username, "currency": topup.currency,
               "settings_url": _link("wallet:settings")}
    what = "automatic top-up" if topup.is_automatic else "receipt"
    # Built before the message: a document that cannot be made fails the task, which is retried.
    attachments = _attachments(TOPUP_RECEIPT, topup.pk)
    EmailMessage(
        subject=f"NetCop Wallet {what}: {format_money(topup.amount, topup.currency)} added",
        body=render_text("wallet/email/topup_receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        attachments=attachments,
    ).send()


def send_refund_email(*, refund: CardRefund) -> None:
    """Tell the customer a refund to their card went through: amount, reason, balance, ids."""
    topup = refund.topup
    user = topup.user
    context = {"refund": refund, "topup": topup, "entry": refund.debit_transaction,
               "name": user.username, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet: {format_money(refund.amount, topup.currency)} refunded to your card",
        message=render_text("wallet/email/refund.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def _link(name: str) -> str:
    return settings.SITE_URL + reverse(name)


def _send_billing(subject: str, template: str, user, **context) -> None:
    context.update(
        name=user.username, wallet_url=_link("wallet:topup"), settings_url=_link("wallet:settings")
    )
    send_mail(
        subject=subject,
        message=render_text(template, context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def _billing_of(object_id: str) -> BillingSettings | None:
    user_id = str(object_id).split(":", 1)[0]
    if not user_id.isdigit():
        return None
    return BillingSettings.objects.select_related("user").filter(pk=int(user_id)).first()


def _send_issue14(kind: str, object_id: str) -> bool:
    if kind == AUTO_RECHARGE_FAILED:
        topup = TopUp.objects.select_related("user").filter(
            pk=object_id, is_automatic=True, status=TopUp.Status.FAILED
        ).first()
        if topup is None:
            return False
        _send_billing(
            f"NetCop Wallet: automatic top-up of {format_money(topup.amount, topup.currency)} failed",
            "wallet/email/auto_recharge_failed.txt", topup.user, topup=topup,
        )
        return True
    if kind in (AUTO_RECHARGE_PAUSED, AUTO_RECHARGE_LIMIT):
        billing = _billing_of(object_id)
        if billing is None:
            return False
        if kind == AUTO_RECHARGE_PAUSED:
            if billing.auto_recharge_paused_at is None:
                return False  # re-armed before the email went out
            _send_billing("NetCop Wallet: automatic top-ups are paused",
                          "wallet/email/auto_recharge_paused.txt", billing.user, billing=billing)
            return True
        _send_billing("NetCop Wallet: automatic top-up not made (limit reached)",
                      "wallet/email/auto_recharge_limit.txt", billing.user, billing=billing)
        return True
    if kind == LOW_BALANCE:
        entry = WalletTransaction.objects.select_related("user").filter(pk=object_id).first()
        if entry is None:
            return False
        billing = BillingSettings.objects.filter(pk=entry.user_id).first()
        _send_billing(
            f"NetCop Wallet: your balance is below {format_money(billing.low_balance_alert)}"
            if billing and billing.low_balance_alert is not None else "NetCop Wallet: low balance",
            "wallet/email/low_balance.txt", entry.user, entry=entry, billing=billing,
        )
        return True
    raise ValueError(f"unknown email kind {kind!r}")


def send_password_changed(object_id: str) -> bool:
    """Tell someone their password was changed, with the way back in if it was not them."""
    user_id, _, changed = str(object_id).partition(":")
    if not (user_id.isdigit() and changed.isdigit()):
        return False
    user = get_user_model().objects.filter(pk=int(user_id)).first()
    if user is None:
        return False
    changed_at = datetime.fromtimestamp(int(changed), tz=UTC)
    context = {"name": user.username, "email": user.email, "changed_at": changed_at,
               "reset_url": _link("authentication:password_reset")}
    send_mail(
        subject="Your NetCop Wallet password was changed",
        message=render_text("registration/password_changed_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def send(kind: str, object_id: str) -> bool:
    """Render and send one email from the database; False when there is nothing (left) to send."""
    if kind == TOPUP_RECEIPT:
        topup = TopUp.objects.select_related("user", "credit_transaction").filter(pk=object_id).first()
        if topup is None or topup.credit_transaction is None:
            return False
        send_topup_receipt(topup=topup)
        return True
    if kind == CARD_REFUND:
        refund = (
            CardRefund.objects.select_related("topup__user", "debit_transaction")
            .filter(pk=object_id, status=CardRefund.Status.SUCCEEDED, debit_transaction__isnull=False)
            .first()
        )
        if refund is None:
            return False
        send_refund_email(refund=refund)
        return True
    if kind == PASSWORD_CHANGED:
        return send_password_changed(object_id)
    if kind in (DISPUTE_OPENED, FRAUD_WARNING_OPS):
        return _send_issue20(kind, object_id)
    if kind == VERIFY_EMAIL:
        return send_verification(object_id)
    if kind == CREDIT_EXPIRING:
        return _send_credit_expiring(object_id)
    if kind in KINDS:
        return KINDS[kind](object_id)
    return _send_issue14(kind, object_id)


def _send_credit_expiring(object_id: str) -> bool:
    lot = CreditLot.objects.select_related("user").filter(pk=object_id, remaining__gt=0).first()
    if lot is None or lot.expires_at is None or lot.expires_at <= timezone.now():
        return False  # spent or expired meanwhile: nothing left to warn about
    _send_billing(
        f"NetCop Wallet: {format_money(lot.remaining)} of promotional credit expires soon",
        "wallet/email/credit_expiring.txt", lot.user, lot=lot, history_url=_link("wallet:history"),
    )
    return True


def _send_issue20(kind: str, object_id: str) -> bool:
    if kind == DISPUTE_OPENED:
        dispute = Dispute.objects.select_related("user", "topup").filter(pk=object_id).first()
        if dispute is None:
            return False
        _send_billing(
            "NetCop Wallet: your card payment of "
            f"{format_money(dispute.topup.amount, dispute.topup.currency)} was disputed",
            "wallet/email/dispute_opened.txt", dispute.user, dispute=dispute,
            history_url=_link("wallet:history"),
        )
        return True
    warning = EarlyFraudWarning.objects.select_related("topup__user", "refund").filter(pk=object_id).first()
    if warning is None:
        return False
    mail_admins(
        subject=f"Early fraud warning on a top-up of {warning.topup.user.email}",
        message=render_text(
            "wallet/email/fraud_warning_ops.txt", {"warning": warning, "topup": warning.topup}
        ),
    )
    return True
# A claim older than this lost its delivery (a worker killed mid-send): another delivery may take
# it over and send. The one case where an email can go out twice: SMTP cannot tell a sender that
# died whether its message went through. Far above a normal send (seconds).
CLAIM_STALE_AFTER = timedelta(minutes=15)


def _claim(key: str, now) -> str:
    """Claim the send of `key` in the database before sending; "" when this delivery holds the
    claim, else why it must not send ("already sent", "being sent")."""
    try:
        # A savepoint: a caller's transaction survives the duplicate key.
        with transaction.atomic():
            SentEmail.objects.create(key=key, status=SentEmail.Status.SENDING, claimed_at=now)
        return ""
    except IntegrityError:
        pass
    row = SentEmail.objects.filter(key=key).values_list("status", "claimed_at").first()
    if row is None:
        return "being sent"  # its claimer failed and released it: the claimer's retry sends it
    status, claimed_at = row
    if status == SentEmail.Status.SENT:
        return "already sent"
    if claimed_at >= now - CLAIM_STALE_AFTER:
        return "being sent"
    # Take over a dead delivery's claim; of two deliveries doing so, the conditional update picks one.
    taken = SentEmail.objects.filter(key=key, status=SentEmail.Status.SENDING, claimed_at=claimed_at).update(
        claimed_at=now
    )
    if not taken:
        return "being sent"
    logger.warning("%s email: claim of %s went stale; sending it again", key, claimed_at)
    return ""


def _release(key: str, claimed_at) -> None:
    """Give up this delivery's claim (nothing sent): a retry, or another delivery, may claim again."""
    SentEmail.objects.filter(key=key, status=SentEmail.Status.SENDING, claimed_at=claimed_at).delete()


@task()
def send_email(kind: str, object_id: str, attempt: int = 1) -> str:
    """Send one customer email, once: the send is claimed in the database first (SentEmail), so of
    two deliveries only one sends; a mail-server outage releases the claim and schedules a retry
    with backoff; a delivery of an email already sent does nothing."""
    key = f"{kind}:{object_id}"
    now = timezone.now()
    refused = _claim(key, now)
    if refused:
        return refused
    try:
        if not send(kind, object_id):
            _release(key, now)
            return "nothing to send"
    except (OSError, smtplib.SMTPException) as exc:
        _release(key, now)
        if attempt >= settings.EMAIL_MAX_ATTEMPTS:
            logger.error("giving up on %s email after %s attempts: %r", key, attempt, exc)
            return "gave up"
        delay = settings.EMAIL_RETRY_AFTER * (2 ** (attempt - 1))
        logger.warning("%s email not sent (%r); retry %s in %s", key, exc, attempt + 1, delay)
        try:
            send_email.using(run_after=timezone.now() + delay).enqueue(kind, object_id, attempt + 1)
        except InvalidTaskError:  # the immediate backend cannot defer a task
            logger.error("%s email not sent and this task backend cannot retry later", key)
            return "not sent"
        return "retry scheduled"
    except Exception:
        _release(key, now)  # a bug while rendering: nothing went out, a later delivery may try
        raise
    marked = SentEmail.objects.filter(key=key, status=SentEmail.Status.SENDING, claimed_at=now).update(
        status=SentEmail.Status.SENT, sent_at=timezone.now()
    )
    if not marked:
        logger.warning("%s email sent after its claim was taken over as stale", key)
    return "sent"
