"""Customer emails. Sent after commit (transaction.on_commit), never inside a money transaction."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import CardRefund, TopUp, WalletTransaction
from .money import format_money


def send_topup_receipt(*, topup: TopUp, entry: WalletTransaction, email: str, name: str) -> None:
    """Send the receipt for a credited top-up: amount, new balance, date and transaction id."""
    context = {"topup": topup, "entry": entry, "name": name, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet receipt: {format_money(topup.amount, topup.currency)} added",
        message=render_to_string("wallet/email/topup_receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )


def send_refund_email(*, refund: CardRefund, email: str, name: str) -> None:
    """Tell the customer a refund to their card went through: amount, reason, balance, ids."""
    entry = refund.debit_transaction
    topup = refund.topup
    context = {"refund": refund, "entry": entry, "topup": topup, "name": name, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet: {format_money(refund.amount, topup.currency)} refunded to your card",
        message=render_to_string("wallet/email/refund.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )
