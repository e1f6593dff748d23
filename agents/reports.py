"""A run's result as structure: a verdict, blocks (tables, findings, facts, cards) and a plain-text form.

The built-in runners build a Report as they analyse; the page renders its blocks (verdict badge, real
tables, findings), the JSON answer carries it (`report`) and the CSV and the "Plain-text report"
show its text. It is stored on the run as JSON (AgentRun.report) next to the text (AgentRun.output).
A runner that answers plain text (the `http` runner, runs from before reports were stored) is shown
as that text: nothing is ever parsed back out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Verdict levels, the badge's class (badge-risk-<level>): red, amber, green, neutral.
DANGER, WARNING, OK, INFO = "danger", "warning", "ok", "info"


@dataclass(frozen=True)
class Verdict:
    level: str
    label: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "label": self.label}

    @classmethod
    def from_json(cls, data: dict | None) -> Verdict | None:
        return cls(level=str(data["level"]), label=str(data["label"])) if data else None


@dataclass
class Block:
    """One part of a report: kind is "table", "list", "facts", "callout" (text with a level), "card"
    (one checked item: a title with its own verdict, facts and findings), "note" or "text"."""

    kind: str
    title: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    # (tag, level, text) for lists (tag "" for none); (label, value) for facts.
    items: list[tuple] = field(default_factory=list)
    text: str = ""
    numeric: tuple[int, ...] = ()  # table columns aligned right
    level: str = INFO  # a callout's colour
    stack: bool = False  # a wide table shown as one card per row on narrow screens
    badge: Verdict | None = None  # a card's own verdict
    facts: list[tuple[str, str]] = field(default_factory=list)  # a card's (label, value) pairs

    @property
    def cells(self) -> list[list[tuple[str, str, bool]]]:
        """The table's rows as (column header, value, numeric) cells."""
        return [
            [(self.headers[i] if i < len(self.headers) else "", value, i in self.numeric)
             for i, value in enumerate(row)]
            for row in self.rows
        ]

    def to_json(self) -> dict[str, Any]:
        """Only what differs from the defaults: a stored report stays small."""
        data: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "kind" or value == Block.__dataclass_fields__[f.name].default or value in ([], ()):
                continue
            if f.name == "badge":
                value = value.to_json()
            elif f.name in ("items", "facts", "rows", "numeric"):
                value = [list(v) if isinstance(v, tuple | list) else v for v in value]
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Block:
        return cls(
            kind=str(data["kind"]),
            title=data.get("title", ""),
            headers=list(data.get("headers", [])),
            rows=[list(row) for row in data.get("rows", [])],
            items=[tuple(item) for item in data.get("items", [])],
            text=data.get("text", ""),
            numeric=tuple(data.get("numeric", ())),
            level=data.get("level", INFO),
            stack=bool(data.get("stack", False)),
            badge=Verdict.from_json(data.get("badge")),
            facts=[(str(label), str(value)) for label, value in data.get("facts", [])],
        )


@dataclass
class Report:
    verdict: Verdict | None = None
    blocks: list[Block] = field(default_factory=list)
    # The plain-text form (AgentRun.output): the CSV, the "Plain-text report" and API clients read it.
    text: str = ""

    @property
    def structured(self) -> bool:
        return any(block.kind != "text" for block in self.blocks)

    @classmethod
    def plain(cls, text: str) -> Report:
        """A report that is only text: what a plain-text runner answered, shown as it is."""
        return cls(blocks=[Block("text", text=text)], text=text)

    def to_json(self) -> dict[str, Any]:
        """The structure as stored on the run (the text is stored apart, in AgentRun.output)."""
        return {
            "verdict": self.verdict.to_json() if self.verdict else None,
            "blocks": [block.to_json() for block in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, text: str = "") -> Report:
        return cls(
            verdict=Verdict.from_json(data.get("verdict")),
            blocks=[Block.from_json(block) for block in data.get("blocks", [])],
            text=text,
        )

    @classmethod
    def of_run(cls, run) -> Report:
        """What a run shows: its stored report, or its output as text (plain runners, older runs)."""
        if not run.is_succeeded:
            return cls()
        if run.report:
            return cls.from_json(run.report, text=run.output)
        return cls.plain(run.output)


class ReportWriter:
    """Builds a report and its plain-text form side by side, so the two always tell the same.

    `line()` writes text only; the block methods add a block (the runner writes its text lines
    for it as well, in the wording the plain-text report has always had)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.report = Report()

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def add(self, block: Block) -> Block:
        self.report.blocks.append(block)
        return block

    def finish(self, verdict: Verdict | None = None) -> Report:
        self.report.verdict = verdict
        self.report.text = "\n".join(self.lines)
        return self.report
