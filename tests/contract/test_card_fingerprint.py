"""The gateway's card-fingerprint read (issue 20: declines capped per card) against stripe-mock."""

import pytest

from wallet import payments

pytestmark = pytest.mark.usefixtures("stripe_mock")


def test_card_fingerprint_reads_the_payment_methods_card():
    fingerprint = payments.card_fingerprint("pm_card_visa")
    assert isinstance(fingerprint, str) and fingerprint  # stripe-mock's fixture card has one
