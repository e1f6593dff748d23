from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self):
        # Imported here, not at module level: models must be loaded first (Django's app loading).
        from django.db.models.signals import post_save

        from wallet import emails
        from wallet.models import CardRefund, Dispute, TopUp
        from wallet.scheduler import register_chore

        from . import receivers
        from .tasks import STATEMENT_EMAIL, issue_monthly_documents

        # The wallet knows nothing of documents (layers): a settled top-up or a finished refund is
        # seen here, and the document is issued by a task after the wallet's commit, so the settle
        # path pays for one on_commit callback and nothing more.
        post_save.connect(receivers.on_topup_saved, sender=TopUp, dispatch_uid="documents.on_topup_saved")
        post_save.connect(
            receivers.on_card_refund_saved, sender=CardRefund, dispatch_uid="documents.on_card_refund_saved"
        )
        post_save.connect(
            receivers.on_dispute_saved, sender=Dispute, dispatch_uid="documents.on_dispute_saved"
        )
        emails.register_attachments(emails.TOPUP_RECEIPT, receivers.receipt_attachments)
        emails.register_kind(STATEMENT_EMAIL, receivers.send_statement_email)
        register_chore(
            name="issue_monthly_documents", task=issue_monthly_documents, setting="SCHEDULE_MONTHLY_DOCUMENTS"
        )
