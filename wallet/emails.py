"""Customer emails. Sent after commit (transaction.on_commit), never inside a money transaction."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import TopUp


def send_topup_receipt(topup_id) -> None:
    """Send the receipt for a succeeded top-up: amount, new balance, date and transaction id."""
    topup = TopUp.objects.select_related("user", "credit_transaction").get(pk=topup_id)
    entry = topup.credit_transaction
    if topup.status != TopUp.Status.SUCCEEDED or entry is None:
        return
    context = {"topup": topup, "entry": entry, "user": topup.user, "currency": topup.currency}
    send_mail(
        subject=f"NetCop Wallet receipt: {topup.amount:,.2f} {topup.currency} added",
        message=render_to_string("wallet/email/topup_receipt.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[topup.user.email],
    )
