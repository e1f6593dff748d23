"""Signals the accounts app sends; receivers above it (the wallet's email task) connect in their ready()."""

from django.dispatch import Signal

# Sent after the commit of a password change or reset, with `user`: the owner is told by email
# (someone else may have changed it).
password_changed = Signal()

# Sent after commit with `user` when an account needs (another) email-verification link: at sign-up
# and when its owner asks again. The wallet's email task sends it (issue 20).
verification_requested = Signal()
