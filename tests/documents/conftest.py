import uuid
from decimal import Decimal

import pytest

from wallet.models import TopUp, TxType
from wallet.services import ledger


@pytest.fixture
def credited_topup(db):
    """A credited top-up written the way settle_topup leaves it (ledger credit, TopUp succeeded),
    without Stripe: these tests are about the documents, not the payment."""

    def factory(user, amount="100.00", *, automatic=False):
        intent = f"pi_{uuid.uuid4().hex[:20]}"
        entry = ledger.credit(user=user, amount=Decimal(amount), type=TxType.TOP_UP,
                              description=f"Card top-up {amount} AED", stripe_payment_intent_id=intent)
        return TopUp.objects.create(
            user=user, amount=Decimal(amount), currency="AED", idempotency_key=uuid.uuid4().hex,
            stripe_payment_intent_id=intent, status=TopUp.Status.SUCCEEDED, credit_transaction=entry,
            is_automatic=automatic,
        )

    return factory


@pytest.fixture
def seller(settings):
    settings.INVOICE_SELLER_NAME = "NetCop Security FZ-LLC"
    settings.INVOICE_SELLER_ADDRESS = "Office 12, Building 3, Dubai Internet City, Dubai"
    settings.INVOICE_SELLER_TRN = "100111222300003"
    settings.VAT_RATE = Decimal("5.00")
    settings.VAT_TAX_POINT = "topup"
    settings.VAT_PRICES = "inclusive"
    return settings
