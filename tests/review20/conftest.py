"""The disputes suite's fixtures (the sandbox's announced events, a paying helper), shared here."""

from tests.disputes.conftest import pay, sandbox_events  # noqa: F401
