"""The API's request and response shapes; django-ninja turns them into the OpenAPI document.

Money is a decimal string ("12.50"), never a JSON number: a float would round it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

MONEY = r"^-?\d+\.\d{2}$"
Money = str


class BalanceOut(Schema):
    balance: str = Field(pattern=MONEY, examples=["42.50"])
    currency: str = Field(description="ISO 4217 code of the wallet (WALLET_CURRENCY).")
    month_spent: str = Field(pattern=MONEY, description="Agent spending this calendar month, all keys.")
    spend_limit: str | None = Field(None, pattern=MONEY, description="The account's monthly limit.")
    key_month_spent: str = Field(pattern=MONEY, description="Spent through this key this month.")
    key_cap: str | None = Field(None, pattern=MONEY, description="This key's own monthly cap.")
    on_hold: bool


class AgentOut(Schema):
    slug: str
    name: str
    description: str
    price: str = Field(pattern=MONEY)
    queued: bool = Field(description="True: a run answers 202 and is polled; false: 200 with the result.")
    input_label: str
    max_input_chars: int


class TransactionOut(Schema):
    id: uuid.UUID
    created_at: dt.datetime
    type: str
    description: str
    amount: str = Field(pattern=MONEY)
    balance_after: str = Field(pattern=MONEY)
    api_key: str | None = Field(None, description="The prefix of the key that caused it, if any.")


class TransactionPage(Schema):
    items: list[TransactionOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next (older) page.")


RunStatus = Literal["charged", "queued", "running", "succeeded", "failed"]


class RunOut(Schema):
    id: uuid.UUID
    agent: str
    status: RunStatus
    price: str = Field(pattern=MONEY)
    charged: str = Field(pattern=MONEY, description="What this run costs now (0.00 once refunded).")
    refunded: bool
    output: str
    report: dict[str, Any] | None = None
    error: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    api_key: str | None = None
    status_url: str
    cancel_url: str | None = None


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None = None


class RunIn(Schema):
    input: str = Field(min_length=1, description="The text for the agent, within its max_input_chars.")


class PingOut(Schema):
    ok: bool
    key: str


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    code: str


# --- documents (issue 22) --------------------------------------------------------------------------

DocumentKind = Literal["tax_invoice", "receipt", "credit_note", "statement", "usage_invoice"]


class DocumentOut(Schema):
    id: uuid.UUID
    kind: DocumentKind
    title: str = Field(examples=["Tax invoice"])
    number: str = Field(description="Series, year and number, gapless per series and year.",
                        examples=["INV-2026-000042"])
    issued_at: dt.datetime
    supplied_at: dt.date | None = Field(None, description="Date of supply (invoices, credit notes).")
    period_start: dt.date | None = Field(None, description="First day of a statement's month.")
    period_end: dt.date | None = Field(None, description="Last day of a statement's month, included.")
    currency: str
    net_total: str = Field(pattern=MONEY, description="Before VAT.")
    tax_total: str = Field(pattern=MONEY, description="VAT.")
    total: str = Field(pattern=MONEY, description="net_total + tax_total.")
    corrects: str | None = Field(None, description="The number of the document a credit note corrects.")
    pdf_url: str


class DocumentPage(Schema):
    items: list[DocumentOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next (older) page.")
