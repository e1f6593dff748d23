"""The seed's User.add_balance / deduct_balance / has_sufficient_balance: thin doors into the ledger.

Accounts sit below the wallet, so the User model cannot import the ledger; WalletConfig.ready()
installs this module as its door (authentication.models.install_ledger_door).
"""

from __future__ import annotations

from decimal import Decimal

from ..exceptions import InsufficientBalance
from ..models import TxType
from ..money import to_money
from .ledger import credit, debit

ADDED = "Balance added through User.add_balance"
USED = "Agent usage"


def covers(*, balance: Decimal, amount) -> bool:
    """True if `balance` covers `amount` (a Decimal or a decimal string, under the one amount rule)."""
    return balance >= to_money(amount)


def add(*, user, amount, description: str = ADDED) -> bool:
    """A ledger adjustment that always says where the money came from; raises like `credit`."""
    credit(user=user, amount=amount, type=TxType.ADJUSTMENT, description=(description or "").strip() or ADDED)
    return True


def deduct(*, user, amount, description: str = USED) -> bool:
    """Agent usage debited from the wallet; False, and nothing written, when the balance is short."""
    try:
        debit(
            user=user, amount=amount, type=TxType.AGENT_USAGE, description=(description or "").strip() or USED
        )
    except InsufficientBalance:
        return False
    return True
