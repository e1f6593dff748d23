"""`make run`'s console: every log line printed once."""

import logging

import pytest


def emitting_handlers(name):
    """The handlers a record logged on `name` passes through (as Logger.callHandlers walks them)."""
    found, logger = [], logging.getLogger(name)
    while logger:
        found.extend(h for h in logger.handlers
                     if isinstance(h, logging.StreamHandler) and not type(h).__module__.startswith("_pytest"))
        logger = logger.parent if logger.propagate else None
    return found


@pytest.mark.parametrize("name", ["django", "django.utils.autoreload", "django.request", "django.server",
                                  "wallet", "agents.services", "axes"])
def test_each_log_line_is_printed_once(name):
    # Counted by attachment: Django's own console handler (printing under DEBUG, as in `make run`) is gone.
    assert len(emitting_handlers(name)) == 1, emitting_handlers(name)


def test_errors_still_reach_the_admins_by_email():
    from django.utils.log import AdminEmailHandler

    assert any(isinstance(h, AdminEmailHandler) for h in logging.getLogger("django").handlers)
