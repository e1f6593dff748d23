"""Signals the agents send; receivers above (the API's customer webhooks, issue 21) connect in ready()."""

from django.dispatch import Signal

# Sent with send_robust (a receiver's failure is logged, never the caller's error) after commit when
# a run reaches its end (succeeded, or failed: with `canceled` True when the owner canceled it), once
# per run however it got there. Keyword arguments: run, canceled.
run_finished = Signal()
