"""Signals the accounts app sends; receivers above it (the wallet's email task) connect in their ready()."""

from django.dispatch import Signal

# Sent after the commit of a password change or reset, with `user`: the owner is told by email
# (someone else may have changed it).
password_changed = Signal()
