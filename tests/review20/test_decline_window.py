"""Review of issue 20: the card-testing decline limits count the declines of the last window's length,
not those of a fixed clock window. With fixed windows, declines just before and just after a window's
edge were counted apart: 6 declines in an hour did not refuse the 7th attempt, and a burst of twice
the limit went to Stripe in seconds."""

from decimal import Decimal

import pytest

from netcop_hub import ratelimit
from wallet import services
from wallet.exceptions import TooManyDeclines

pytestmark = pytest.mark.django_db

HOUR = 3600


class Clock:
    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    # An hour's edge a while from now (the cache's own expiry runs on the real clock).
    edge = (int(ratelimit.time.time()) // HOUR + 10) * HOUR
    fake = Clock(edge)
    monkeypatch.setattr(ratelimit, "time", fake)
    fake.edge = edge
    return fake


def check(user, ip="198.51.100.7"):
    services.card_testing.check_topup_allowed(user=user, amount=Decimal("10.00"), client_ip=ip)


def test_six_declines_in_an_hour_across_a_window_edge_refuse_the_seventh(user, clock):
    clock.now = clock.edge - 60
    for _ in range(3):
        services.record_decline(user_id=user.pk, client_ip="198.51.100.7")
    clock.now = clock.edge + 60
    for _ in range(3):
        services.record_decline(user_id=user.pk, client_ip="198.51.100.7")
    clock.now = clock.edge + 120
    with pytest.raises(TooManyDeclines) as refused:
        check(user)
    # The oldest of those declines leaves the hour at edge - 60 + 3600 (to the counter's precision).
    assert 0 < refused.value.retry_after <= HOUR


def test_a_burst_at_the_edge_is_refused_after_the_limit(user, clock):
    clock.now = clock.edge - 1
    for _ in range(5):
        services.record_decline(user_id=user.pk, client_ip="198.51.100.7")
    clock.now = clock.edge + 1  # a new fixed window would have allowed 5 more at once
    with pytest.raises(TooManyDeclines):
        check(user)


def test_declines_older_than_the_window_no_longer_count(user, clock):
    clock.now = clock.edge - 60
    for _ in range(5):
        services.record_decline(user_id=user.pk, client_ip="198.51.100.7")
    with pytest.raises(TooManyDeclines) as refused:
        check(user)
    clock.now += refused.value.retry_after  # when it said to try again
    check(user)
    clock.now = clock.edge - 60 + HOUR - 120  # within the hour of those declines: still paused
    with pytest.raises(TooManyDeclines):
        check(user)


def test_the_address_limit_slides_too(make_user, clock, settings):
    settings.TOPUP_DECLINE_IP_LIMIT = services.card_testing.Rate(3, HOUR)
    clock.now = clock.edge - 30
    for _ in range(2):
        services.record_decline(user_id=make_user().pk, client_ip="203.0.113.50")
    clock.now = clock.edge + 30
    services.record_decline(user_id=make_user().pk, client_ip="203.0.113.50")
    with pytest.raises(TooManyDeclines):
        check(make_user(), ip="203.0.113.50")
