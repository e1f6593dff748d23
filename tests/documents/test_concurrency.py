"""Gapless numbering under concurrency: twenty top-ups settled at once, each invoiced by its task after
commit, and each invoice asked for twice. On PostgreSQL the counter row lock is what is tested; on SQLite
(one writer at a time) the same test runs, so neither run skips it."""

import pytest
from django.db import transaction

from documents import issuing
from documents.models import Document, DocumentCounter
from tests.concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_concurrent_topups_get_gapless_numbers(make_user, credited_topup, seller):
    users = [make_user(email=f"c{i}@example.com") for i in range(20)]

    def settle(i):
        # The top-up commits, then (immediate task backend) its invoice is issued in this thread.
        with transaction.atomic():
            topup = credited_topup(users[i], f"{10 + i}.00")
        return topup.pk

    topup_ids = run_concurrently(settle, 20)
    assert all(not isinstance(r, BaseException) for r in topup_ids), topup_ids
    # Twin deliveries of every task, all at once: nothing new, no number used.
    twins = run_concurrently(lambda i: issuing.issue_topup_invoice(topup_id=topup_ids[i % 20]).pk, 40)
    assert all(not isinstance(r, BaseException) for r in twins), twins

    numbers = sorted(Document.objects.filter(kind=Document.Kind.TAX_INVOICE).values_list("number", flat=True))
    assert numbers == list(range(1, 21))
    assert DocumentCounter.objects.get(series="INV").last_number == 20
    assert set(Document.objects.values_list("topup_id", flat=True)) == set(topup_ids)
