"""Signals the wallet sends; receivers above the ledger are connected in WalletConfig.ready()."""

from django.dispatch import Signal

# Sent by the ledger after a change to a balance whose owner watches it (User.wallet_watched: a
# low-balance alert or auto-recharge is set), inside the change's transaction and still holding the
# user's row lock. Keyword arguments: user_id, new_balance, delta (Decimal), entry (the ledger row).
# An unwatched balance sends nothing, so a plain debit stays two statements (issue 19).
balance_changed = Signal()

# issue 21: sent with send_robust (a receiver's failure is logged, never the payer's error) after
# commit when a card top-up is credited, once per top-up. Keyword arguments: topup, entry.
topup_settled = Signal()

# issue 21: sent with send_robust after commit when a debit takes the balance below the owner's
# low-balance alert (the one crossing that sends the alert email). Keyword arguments: user_id,
# balance, alert, entry.
low_balance = Signal()
