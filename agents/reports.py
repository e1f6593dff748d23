"""Readable results: a run's text report as a verdict badge, tables and lists for the page.

The built-in runners write plain-text reports (stored in AgentRun.output, sent as `output` in the
JSON answers, kept as the plain-text version on the page). This module reads those reports back,
for the runners whose format it knows, into blocks the template renders: a verdict (worded and
coloured by risk), real tables for the log triage's talkers and paths and for the header route,
and lists for findings. Anything it does not recognise stays text: a report is never lost to a
parse, only shown less richly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Verdict levels, the badge's class (badge-risk-<level>): red, amber, green, neutral.
DANGER, WARNING, OK, INFO = "danger", "warning", "ok", "info"


@dataclass(frozen=True)
class Verdict:
    level: str
    label: str


@dataclass
class Block:
    """One part of a report: kind is "table", "list", "facts", "callout" (text with a level), "card"
    (one checked item: a title with its own verdict, facts and findings) or "text"."""

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


@dataclass
class Report:
    verdict: Verdict | None = None
    blocks: list[Block] = field(default_factory=list)
    text: str = ""

    @property
    def structured(self) -> bool:
        return any(block.kind != "text" for block in self.blocks)

    @classmethod
    def plain(cls, text: str) -> Report:
        return cls(blocks=[Block("text", text=text)], text=text)

    def to_json(self) -> dict:
        return {}

    @classmethod
    def from_json(cls, data: dict, *, text: str = "") -> Report:
        return cls.plain(text)


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """Split a report on blank lines into (first line, following lines) paragraphs."""
    out, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            out.append((current[0], current[1:]))
            current = []
    if current:
        out.append((current[0], current[1:]))
    return out


def _fact(line: str) -> tuple[str, str]:
    label, sep, value = line.strip().partition(":")
    return (label, value.strip()) if sep else ("", label)


def _sentence(line: str) -> str:
    """"VERDICT: LIKELY SPOOFED (2 failures)." -> "Likely spoofed (2 failures).": no shouting on the page."""
    line = line.split(":", 1)[1].strip() if line.startswith(("VERDICT:", "RECOMMENDATION:")) else line
    m = re.match(r"^([A-Z][A-Z ]*[A-Z])(?![a-z])(.*)$", line, re.S)
    return (m[1].capitalize() + m[2]) if m else line


def _text(title: str, lines: list[str]) -> Block:
    return Block("text", title=title, text="\n".join(line.strip() for line in lines))


_TAG = re.compile(r"^\s*\[([A-Z+0-9]+)\]\s*(.*)$")


_TAG_LEVELS = {
    "FAIL": DANGER, "ATTACK": DANGER, "AUTH": DANGER,
    "WARN": WARNING, "BURST": WARNING, "SCAN": WARNING, "ERRORS": WARNING,
    "OK": OK,
}


def _findings(lines: list[str]) -> list[tuple[str, str, str]]:
    """Findings lines as (tag, level, text): "[AUTH] 1.2.3.4 got ..." -> ("AUTH", "danger", "1.2.3.4 ...")."""
    items = []
    for line in lines:
        m = _TAG.match(line)
        items.append((m[1], _TAG_LEVELS.get(m[1], INFO), m[2]) if m else ("", INFO, line.strip()))
    return items


# --- log triage -------------------------------------------------------------------------------------

_IP_ROW = re.compile(r"^\s{2}(\S+)\s+(\d+) requests?\s+(\d+) errors?$")
_PATH_ROW = re.compile(r"^\s+(\d+)\s{2}(.*)$")


def _log_triage(text: str) -> Report:
    report = Report()
    tags: set[str] = set()
    for head, lines in _sections(text):
        if head == "ACCESS LOG TRIAGE":
            continue
        if head == "Top client IPs":
            rows = [list(m.groups()) for m in map(_IP_ROW.match, lines) if m]
            if len(rows) == len(lines):
                headers = ["Client IP", "Requests", "Errors"]
                report.blocks.append(Block("table", head, headers, rows, numeric=(1, 2)))
                continue
        elif head == "Top paths":
            rows = [list(m.groups()) for m in map(_PATH_ROW.match, lines) if m]
            if len(rows) == len(lines):
                report.blocks.append(Block("table", head, ["Requests", "Path"], rows, numeric=(0,)))
                continue
        elif head == "Findings":
            items = _findings(lines)
            tags.update(tag for tag, _level, _text in items)
            report.blocks.append(Block("list", head, items=items))
            continue
        elif head == "Status codes":
            report.blocks.append(Block("facts", head, items=[
                ("By class" if "Top:" not in line else "Most common", line.strip().removeprefix("Top: "))
                for line in lines
            ]))
            continue
        elif head.startswith("RECOMMENDATION:") and not lines:
            report.blocks.append(Block("callout", "Recommendation", text=_sentence(head)))
            continue
        elif head.startswith("Busiest minute:") and not lines:
            report.blocks.append(Block("facts", "", items=[_fact(head)]))
            continue
        elif head.startswith("Lines:"):
            facts = [tuple(part.strip() for part in line.split(":", 1)) for line in [head, *lines]]
            if all(len(f) == 2 for f in facts):
                report.blocks.append(Block("facts", "Summary", items=facts))
                continue
        report.blocks.append(_text("", [head, *lines]))
    if tags & {"ATTACK", "AUTH"}:
        report.verdict = Verdict(DANGER, "Attack traffic found")
    elif tags & {"BURST", "SCAN", "ERRORS"}:
        report.verdict = Verdict(WARNING, "Needs review")
    elif "RECOMMENDATION: nothing urgent" in text:
        report.verdict = Verdict(OK, "Nothing urgent")
    for block in report.blocks:
        if block.kind == "callout" and report.verdict is not None:
            block.level = report.verdict.level
    return report


# --- email headers ----------------------------------------------------------------------------------

_HOP = re.compile(
    r"^\s*(?P<n>\d+)\. from (?P<from>\S+)(?: \((?P<helo>[^()]*)\))?"
    r"(?: \[(?P<ip>[^\]]+)\](?P<note> \(private or reserved range\))?)?"
    r" by (?P<by>\S+)(?: with (?P<with>\S+))?(?: at (?P<at>\S+))?(?: \((?P<delay>-?\+?\d+s)\))?$"
)
_SUMMARY_ROW = re.compile(r"^\s{2}([A-Za-z-]+):\s+(.*)$")
_AUTH_ROW = re.compile(r"^\s{2}(SPF|DKIM|DMARC)\s+(.*)$")


def _email_headers(text: str) -> Report:
    report = Report()
    for head, lines in _sections(text):
        if head == "EMAIL HEADER ANALYSIS":
            continue
        if head == "Summary":
            rows = [m.groups() for m in map(_SUMMARY_ROW.match, lines) if m]
            if len(rows) == len(lines):
                report.blocks.append(Block("facts", head, items=rows))
                continue
        elif head.startswith("Route ("):
            hops = [m for m in map(_HOP.match, lines) if m is not None]
            other = [line for line in lines if not _HOP.match(line)]
            if hops:
                hop_rows: list[list[str]] = []
                for m in hops:
                    sender = m["from"] + (f" ({m['helo']})" if m["helo"] else "")
                    ip = (m["ip"] or "") + (" (private/reserved)" if m["note"] else "")
                    at = (m["at"] or "").replace("T", " ")
                    hop_rows.append([m["n"], sender, ip, m["by"], m["with"] or "", at, m["delay"] or ""])
                report.blocks.append(Block(
                    "table", head, ["Hop", "From", "IP", "By", "With", "Time", "Delay"], hop_rows,
                    numeric=(0, 6), stack=True,
                ))
                if other:
                    report.blocks.append(Block("facts", "", items=[_fact(line) for line in other]))
                continue
        elif head == "Authentication":
            items = []
            for line in lines:
                auth = _AUTH_ROW.match(line)
                items.append(auth.groups() if auth else tuple(part.strip() for part in line.split(":", 1)))
            if all(len(i) == 2 for i in items):
                report.blocks.append(Block("facts", head, items=items))
                continue
        elif head == "Findings":
            report.blocks.append(Block("list", head, items=_findings(lines)))
            continue
        elif head.startswith("VERDICT:"):
            if "LIKELY SPOOFED" in head:
                report.verdict = Verdict(DANGER, "Likely spoofed")
            elif "SUSPICIOUS" in head:
                report.verdict = Verdict(WARNING, "Suspicious")
            elif "CONSISTENT" in head:
                report.verdict = Verdict(OK, "Consistent")
            if report.verdict is not None and not lines:
                level = report.verdict.level
                report.blocks.append(Block("callout", "Verdict", text=_sentence(head), level=level))
                continue
        report.blocks.append(_text("", [head, *lines]))
    return report


# --- phishing URLs ----------------------------------------------------------------------------------

_URL_VERDICT = re.compile(r"^\s+Verdict: (HIGH RISK|SUSPICIOUS|LOW RISK|NO RED FLAGS FOUND)")
_URL_LEVELS = [
    ("HIGH RISK", Verdict(DANGER, "High risk")),
    ("SUSPICIOUS", Verdict(WARNING, "Suspicious")),
    ("LOW RISK", Verdict(INFO, "Low risk")),
    ("NO RED FLAGS FOUND", Verdict(OK, "No red flags")),
]


_URL_HEAD = re.compile(r"^\[(\d+)\] (.*)$")
_URL_FACT = re.compile(r"^\s+(Host|Domain|Verdict):\s+(.*)$")
_URL_FINDING = re.compile(r"^\s+- (?:\[\+(\d+)\] )?(.*)$")


def _points_level(points: int) -> str:
    return DANGER if points >= 4 else WARNING if points >= 2 else INFO


def _url_card(head: str, lines: list[str]) -> Block | None:
    head_match = _URL_HEAD.match(head)
    if head_match is None:
        return None
    card = Block("card", title=head_match[2])
    for line in lines:
        if m := _URL_FACT.match(line):
            if m[1] == "Verdict":
                level = next((v for key, v in _URL_LEVELS if m[2].startswith(key)), None)
                score = re.search(r"\(risk score (\d+)\)$", m[2])
                if level is None or score is None:
                    return None
                card.badge = level
                card.facts.append(("Risk score", score[1]))
            else:
                card.facts.append((m[1], m[2]))
        elif m := _URL_FINDING.match(line):
            points = int(m[1]) if m[1] else 0
            card.items.append((f"+{points}" if points else "", _points_level(points) if points else OK, m[2]))
        else:
            return None
    return card if card.badge is not None else None


def _phishing(text: str) -> Report:
    found = {m[1] for m in map(_URL_VERDICT.match, text.split("\n")) if m}
    report = Report()
    for key, verdict in _URL_LEVELS:
        if key in found:
            report.verdict = verdict
            break
    for head, lines in _sections(text):
        if head.startswith("PHISHING URL CHECK:"):
            continue
        if _URL_HEAD.match(head) and (card := _url_card(head, lines)) is not None:
            report.blocks.append(card)
            continue
        if head.startswith("SUMMARY:"):
            level = report.verdict.level if report.verdict else INFO
            summary = head.removeprefix("SUMMARY:").strip()
            report.blocks.append(Block("callout", "Summary", text=summary, level=level))
            if lines:
                report.blocks.append(Block("note", text=" ".join(line.strip() for line in lines)))
            continue
        report.blocks.append(_text("", [head, *lines]))
    return report


# --- passwords --------------------------------------------------------------------------------------

_RESULT = re.compile(r"^RESULT: (\d+) of (\d+) meets? the policy", re.M)


_PW_HEAD = re.compile(r"^Password (\d+) \((\d+) characters?\)$")
_PW_FACT = re.compile(r"^\s+([A-Z][A-Za-z ,()/0-9]*?):\s*(.*)$")


def _password_card(head: str, lines: list[str]) -> Block | None:
    m = _PW_HEAD.match(head)
    if m is None:
        return None
    card = Block("card", title=f"Password {m[1]} ({m[2]} character{'' if m[2] == '1' else 's'})")
    for line in lines:
        fact = _PW_FACT.match(line)
        if fact is None:
            return None
        label, value = fact[1], fact[2]
        if label == "Time to crack":
            continue  # the scenario lines that follow are facts of their own
        if label == "Policy":
            card.badge = Verdict(OK, "Passes") if value == "PASS" else Verdict(DANGER, "Fails")
            if value != "PASS":
                card.items.extend(("FAIL", DANGER, problem.strip()) for problem in value[6:].split(";"))
            continue
        if label in ("Warning", "Tip"):
            card.items.append((label.upper(), WARNING if label == "Warning" else INFO, value))
            continue
        card.facts.append((label, value))
    return card if card.badge is not None else None


def _passwords(text: str) -> Report:
    report = Report()
    for head, lines in _sections(text):
        if head.startswith("PASSWORD STRENGTH AUDIT:"):
            continue
        if _PW_HEAD.match(head) and (card := _password_card(head, lines)) is not None:
            report.blocks.append(card)
            continue
        if head.startswith("RESULT:"):
            report.blocks.append(Block("callout", "Result", text=head.removeprefix("RESULT:").strip()))
            if lines:
                report.blocks.append(Block("note", text=" ".join(line.strip() for line in lines)))
            continue
        report.blocks.append(_text("", [head, *lines]))
    if m := _RESULT.search(text):
        passed, total = int(m[1]), int(m[2])
        if passed == total:
            report.verdict = Verdict(OK, "All pass" if total > 1 else "Passes the policy")
        elif passed == 0:
            report.verdict = Verdict(DANGER, "Fails the policy" if total == 1 else "None pass")
        else:
            report.verdict = Verdict(WARNING, f"{total - passed} of {total} fail")
        for block in report.blocks:
            if block.kind == "callout":
                block.level = report.verdict.level
    return report


PRESENTERS = {
    "log_triage": _log_triage,
    "email_headers": _email_headers,
    "phishing_url": _phishing,
    "password_audit": _passwords,
}


def present(*, runner: str, output: str) -> Report:
    """The report for a run's output; plain text for runners (or outputs) this module does not know."""
    presenter = PRESENTERS.get(runner)
    if presenter is not None and output:
        try:
            return presenter(output)
        except (ValueError, IndexError, TypeError):  # an unexpected shape: show the text as it is
            pass
    return Report(blocks=[Block("text", text=output)])
