"""Item 6: in the sandbox, card 0259's dispute reaches the app the way a real one would: a signed
webhook posted over HTTP to the running app (a live server), by the delivery task."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from tests.disputes.conftest import DISPUTE_CARD
from tests.helpers import WEBHOOK_SECRET
from wallet import services
from wallet.models import Dispute, StripeEvent, TopUp

pytestmark = pytest.mark.django_db(transaction=True)


def test_card_0259_dispute_is_posted_signed_to_the_running_app(live_server, stripe_sandbox, settings, make_user):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.SITE_URL = live_server.url  # where the sandbox's delivery task posts the event
    user = make_user()
    # The immediate task backend runs the delivery inside this call: a real HTTP POST, verified by
    # the endpoint with the shared secret, which reads the dispute back through the gateway.
    services.start_topup(user=user, amount="60.00", payment_method_id=stripe_sandbox.card(DISPUTE_CARD),
                         idempotency_key=uuid.uuid4().hex)
    received = set(StripeEvent.objects.values_list("type", flat=True))
    assert {"charge.dispute.created", "charge.dispute.funds_withdrawn"} <= received
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0
    dispute = Dispute.objects.get()
    assert dispute.amount == Decimal("60.00") and dispute.topup.status == TopUp.Status.SUCCEEDED
    user = get_user_model().objects.get(pk=user.pk)
    assert user.wallet_balance == Decimal("0.00") and user.is_on_hold


def test_a_wrong_secret_is_refused_and_nothing_is_applied(live_server, stripe_sandbox, settings, make_user):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.SITE_URL = live_server.url
    from wallet.payments import sandbox_disputes

    body, signature = sandbox_disputes.signed_event("charge.dispute.created", {"id": "dp_x"}, secret="whsec_wrong")
    import urllib.error
    import urllib.request

    request = urllib.request.Request(live_server.url + "/wallet/webhooks/stripe/", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Stripe-Signature": signature})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the test's own live server
    assert refused.value.code == 400 and not StripeEvent.objects.exists()
