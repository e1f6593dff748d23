"""Email-header analyser: hops, SPF/DKIM/DMARC results and sender consistency, with the stdlib."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from email.errors import MessageError
from email.header import decode_header, make_header
from email.parser import Parser
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from ..exceptions import InvalidAgentInput, RunnerError
from ..limits import InputLimits
from ..reports import DANGER, INFO, OK, WARNING, Block, Report, ReportWriter, Verdict
from ._util import plural, printable, registrable_domain

MAX_HEADER_CHARS = 100_000
MAX_HOPS = 50
LIMITS = InputLimits(max_chars=MAX_HEADER_CHARS, notes=(f"Up to {MAX_HOPS} Received hops",))
NO_HEADERS = (
    "No email headers found. This agent reads a message's raw headers: paste lines like "
    "'Received: …' and 'From: …' (in most mail apps: Show original)."
)
_KNOWN = {"from", "received", "return-path", "subject", "to", "message-id", "date"}
_AUTH_RE = re.compile(r"\b(spf|dkim|dmarc|arc)\s*=\s*([a-z]+)", re.I)
_FROM_RE = re.compile(r"\bfrom\s+(\S+)(?:\s+\(([^)]*)\))?", re.I)
_BY_RE = re.compile(r"\bby\s+(\S+)", re.I)
_WITH_RE = re.compile(r"\bwith\s+(\S+)", re.I)
_IP_RE = re.compile(r"\[(?:IPv6:)?([0-9a-fA-F:.]+)\]")
_TAG_RE = re.compile(r"\b([a-z]+)=([^;\s]+)", re.I)
GOOD = {"pass"}
# A finding's severity and its colour on the page.
SEVERITY_LEVELS = {"FAIL": DANGER, "WARN": WARNING, "INFO": INFO, "OK": OK}


def _decoded(value) -> str:
    """A header's text with RFC 2047 encoded words decoded; junk encodings degrade to the raw text."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    # HeaderParseError (a MessageError, not a ValueError) on malformed encoded words: "=??b?b?=".
    except (UnicodeError, ValueError, LookupError, TypeError, MessageError):
        return str(value)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[1].lower().strip(">. ") if "@" in address else ""


def _parse_hop(raw: str) -> dict:
    text = " ".join(raw.split())
    body, _, date_part = text.rpartition(";")
    if not body:
        body, date_part = text, ""
    hop: dict[str, Any] = {"from": "", "from_detail": "", "by": "", "with": "", "ip": "", "time": None}
    if m := _FROM_RE.search(body):
        hop["from"], hop["from_detail"] = m.group(1), m.group(2) or ""
    if m := _BY_RE.search(body):
        hop["by"] = m.group(1)
    if m := _WITH_RE.search(body):
        hop["with"] = m.group(1)
    if m := _IP_RE.search(body):
        hop["ip"] = m.group(1)
    try:
        hop["time"] = parsedate_to_datetime(date_part.strip()) if date_part.strip() else None
        if hop["time"] is not None and hop["time"].tzinfo is None:
            hop["time"] = None  # no zone: not comparable with other hops
    except (TypeError, ValueError, IndexError, OverflowError):
        hop["time"] = None
    return hop


def _ip_note(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if not addr.is_global:
        return " (private or reserved range)"
    return ""


def _parse(input_text: str):
    text = input_text[:MAX_HEADER_CHARS].replace("\r\n", "\n").lstrip("\n")
    # A pasted "mbox" separator line is not a header.
    if text.startswith("From ") and "\n" in text:
        text = text.split("\n", 1)[1]
    msg = Parser(policy=compat32).parsestr(text, headersonly=True)
    keys = {k.lower() for k in msg.keys()}
    return msg, bool(keys & _KNOWN)


def validate_input(text: str) -> str:
    """Refuse, before the charge, input with no recognisable header or more hops than one run traces."""
    msg, recognised = _parse(text)
    if not recognised:
        raise InvalidAgentInput(NO_HEADERS)
    hops = len(msg.get_all("Received", []))
    if hops > MAX_HOPS:
        raise InvalidAgentInput(
            f"The headers have {hops} Received lines; this agent traces up to {MAX_HOPS} hops per run."
        )
    return text


def analyse_headers(input_text: str, config: dict) -> Report:
    """Runner: parse raw email headers and report the route, authentication and sender checks."""
    msg, recognised = _parse(input_text)
    if not recognised:
        raise RunnerError("no recognisable headers", user_message=NO_HEADERS)

    findings: list[tuple[str, str]] = []  # (severity, text)
    from_raw = _decoded(msg.get("From"))
    from_name, from_addr = parseaddr(from_raw)
    from_domain = _domain(from_addr)
    return_path = parseaddr(_decoded(msg.get("Return-Path")))[1]
    rp_domain = _domain(return_path)
    reply_tos = [addr for _, addr in getaddresses([_decoded(v) for v in msg.get_all("Reply-To", [])]) if addr]
    sender_addr = parseaddr(_decoded(msg.get("Sender")))[1]

    out = ReportWriter()
    out.line("EMAIL HEADER ANALYSIS")
    out.line()
    out.line("Summary")
    summary = []
    for label, value in (
        ("From", from_raw),
        ("To", _decoded(msg.get("To"))),
        ("Subject", _decoded(msg.get("Subject"))),
        ("Date", _decoded(msg.get("Date"))),
        ("Message-ID", _decoded(msg.get("Message-ID"))),
        ("Return-Path", return_path),
        ("Reply-To", ", ".join(reply_tos)),
    ):
        if value:
            out.line(f"  {label + ':':<13}{printable(value, 160)}")
            summary.append((label, printable(value, 160)))
    out.line()
    out.add(Block("facts", "Summary", items=summary))

    # --- Route: Received headers are prepended, so the last one is the first hop. --------------
    hops = [_parse_hop(str(h)) for h in reversed(msg.get_all("Received", []))]
    route = f"Route ({plural(len(hops), 'hop')}, first to last)"
    out.line(route)
    hop_rows: list[list[str]] = []
    previous: datetime | None = None
    for i, hop in enumerate(hops, 1):
        sender = printable(hop["from"] or "?", 60)
        desc = f"  {i}. from {sender}"
        helo = hop["from_detail"].split("[")[0].strip()
        if helo and helo.lower() != hop["from"].lower():
            desc += f" ({printable(helo, 60)})"
            sender += f" ({printable(helo, 60)})"
        ip = ""
        if hop["ip"]:
            desc += f" [{printable(hop['ip'], 45)}]{_ip_note(hop['ip'])}"
            ip = printable(hop["ip"], 45) + (" (private/reserved)" if _ip_note(hop["ip"]) else "")
        desc += f" by {printable(hop['by'] or '?', 60)}"
        if hop["with"]:
            desc += f" with {printable(hop['with'], 20)}"
        at = shown_delay = ""
        if hop["time"] is not None:
            desc += f" at {hop['time'].isoformat()}"
            at = hop["time"].isoformat().replace("T", " ")
            if previous is not None:
                delay = (hop["time"] - previous).total_seconds()
                shown_delay = f"+{int(delay)}s" if delay >= 0 else f"{int(delay)}s"
                desc += f" ({shown_delay})"
                if delay < -300:
                    findings.append(("WARN", f"Hop {i} is stamped {int(-delay)}s before the previous hop: "
                                     "clock skew or forged Received lines."))
                elif delay > 3600:
                    findings.append(("INFO", f"Hop {i} was delayed {int(delay // 60)} minutes."))
            previous = hop["time"]
        out.line(desc)
        hop_rows.append([
            str(i), sender, ip, printable(hop["by"] or "?", 60), printable(hop["with"], 20), at, shown_delay,
        ])
    if not hops:
        untraced = "No Received headers: the route cannot be traced (headers may be incomplete)."
        out.line(f"  {untraced}")
        out.add(Block("callout", route, text=untraced, level=WARNING))
        findings.append(("WARN", "No Received headers; real messages carry at least one."))
    else:
        out.add(Block(
            "table", route, ["Hop", "From", "IP", "By", "With", "Time", "Delay"], hop_rows,
            numeric=(0, 6), stack=True,
        ))
    if hops and hops[0]["ip"]:
        origin = f"{printable(hops[0]['ip'], 45)}{_ip_note(hops[0]['ip'])}"
        out.line(f"  Originating IP: {origin}")
        out.add(Block("facts", items=[("Originating IP", origin)]))
    out.line()

    # --- Authentication ----------------------------------------------------------------------
    results: dict[str, list[str]] = {}
    for value in msg.get_all("Authentication-Results", []) + msg.get_all("ARC-Authentication-Results", []):
        for method, result in _AUTH_RE.findall(" ".join(str(value).split())):
            results.setdefault(method.lower(), []).append(result.lower())
    for value in msg.get_all("Received-SPF", []):
        first = str(value).strip().split(" ", 1)[0].lower()
        if first:
            results.setdefault("spf", []).append(first)
    dkim_domains = []
    for value in msg.get_all("DKIM-Signature", []):
        tags = dict((k.lower(), v) for k, v in _TAG_RE.findall(" ".join(str(value).split())))
        if tags.get("d"):
            dkim_domains.append(tags["d"].lower().strip(";"))
    out.line("Authentication")
    auth = []
    for method in ("spf", "dkim", "dmarc"):
        found = results.get(method)
        shown = found[0] if found else "not reported"
        out.line(f"  {method.upper():<6}{shown}")
        auth.append((method.upper(), printable(shown, 20)))
        if not found:
            findings.append(("INFO", f"No {method.upper()} result in the headers."))
        elif found[0] not in GOOD:
            severity = "FAIL" if found[0] in {"fail", "softfail", "permerror"} else "WARN"
            findings.append((severity, f"{method.upper()} result is '{printable(found[0], 20)}'."))
    if dkim_domains:
        signers = ", ".join(printable(d, 60) for d in dkim_domains[:5])
        out.line(f"  DKIM signed by: {signers}")
        auth.append(("DKIM signed by", signers))
    out.line()
    out.add(Block("facts", "Authentication", items=auth))

    # --- Sender consistency ------------------------------------------------------------------
    if not from_addr:
        findings.append(("WARN", "No parsable From address."))
    if from_domain and rp_domain and registrable_domain(from_domain) != registrable_domain(rp_domain):
        findings.append(("WARN", f"From domain {printable(from_domain, 60)} differs from the Return-Path "
                         f"(bounce) domain {printable(rp_domain, 60)}: SPF does not align with From."))
    for addr in reply_tos:
        if from_domain and registrable_domain(_domain(addr)) != registrable_domain(from_domain):
            findings.append(("WARN", f"Replies go to another domain ({printable(_domain(addr), 60)}), "
                             "a common trick to capture the answer."))
    if from_domain and dkim_domains and not any(
        registrable_domain(d) == registrable_domain(from_domain) for d in dkim_domains
    ):
        findings.append(("WARN", "No DKIM signature is aligned with the From domain."))
    if from_name and "@" in from_name:
        shown_domain = _domain(from_name.strip("'\" "))
        if shown_domain and registrable_domain(shown_domain) != registrable_domain(from_domain or "-"):
            findings.append(("FAIL", f"The display name shows the address '{printable(from_name, 60)}' "
                             f"but the message is from {printable(from_addr, 60)}."))
    if sender_addr and from_domain and _domain(sender_addr) and (
        registrable_domain(_domain(sender_addr)) != registrable_domain(from_domain)
    ):
        findings.append(("INFO", f"Sent on behalf of From by {printable(sender_addr, 60)}."))
    if msg.defects:
        findings.append(("INFO", f"The header block has {plural(len(msg.defects), 'formatting defect')}."))

    out.line("Findings")
    if not findings:
        findings.append(("OK", "No inconsistencies found."))
    for severity, text_ in findings:
        out.line(f"  [{severity}]{' ' * (5 - len(severity))}{text_}")
    out.add(Block("list", "Findings", items=[(tag, SEVERITY_LEVELS[tag], text_) for tag, text_ in findings]))
    fails = sum(s == "FAIL" for s, _ in findings)
    warns = sum(s == "WARN" for s, _ in findings)
    if fails:
        verdict, sentence = Verdict(DANGER, "Likely spoofed"), "LIKELY SPOOFED OR MALICIOUS"
    elif warns:
        verdict = Verdict(WARNING, "Suspicious")
        sentence = "SUSPICIOUS: verify with the sender through another channel"
    else:
        verdict, sentence = Verdict(OK, "Consistent"), "CONSISTENT: no signs of spoofing in the headers"
    counts = f"({plural(fails, 'failure')}, {plural(warns, 'warning')})."
    out.line()
    out.line(f"VERDICT: {sentence} {counts}")
    # The page says it without shouting: "Likely spoofed or malicious (2 failures, 2 warnings)."
    calm = f"{sentence[0]}{sentence[1:].lower()} {counts}"
    out.add(Block("callout", "Verdict", text=calm, level=verdict.level))
    return out.finish(verdict)
