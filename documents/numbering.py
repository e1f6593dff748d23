"""Gapless document numbers: one counter row per series and year, locked by the issuing transaction.

A database sequence would leave holes (a rolled-back nextval is never given back); the tax
authority expects an unbroken series. The counter row is incremented under SELECT ... FOR UPDATE in
the same transaction that inserts the document, so a failed issue rolls its number back too and
concurrent issuers queue on the row, each taking the next number.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .models import DocumentCounter


def next_number(*, series: str, year: int) -> int:
    """The next number of `series` in `year`. Must run inside the issuing transaction.atomic()."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number must run inside the transaction that issues the document")
    counter = DocumentCounter.objects.select_for_update().filter(series=series, year=year).first()
    if counter is None:
        # First document of the year: two issuers may both try to create the row; the unique
        # constraint lets one in, the other waits for it (PostgreSQL) and then takes the lock below.
        try:
            with transaction.atomic():
                DocumentCounter.objects.create(series=series, year=year, last_number=0)
        except IntegrityError:
            pass
        counter = DocumentCounter.objects.select_for_update().get(series=series, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number
