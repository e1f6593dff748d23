"""Log triage: top talkers, status codes, bursts and attack patterns in a web access log."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime

from ..exceptions import InvalidAgentInput, RunnerError
from ..limits import InputLimits
from ..reports import DANGER, INFO, OK, WARNING, Block, Report, ReportWriter, Verdict
from ._util import plural, printable, top

MAX_LINES = 20_000
# A real log excerpt is long: about 6,000 typical lines fit in a million characters.
LIMITS = InputLimits(max_chars=1_000_000, notes=(f"Up to {MAX_LINES:,} lines per run",))
NOT_A_LOG = (
    "No access-log lines recognised. This agent reads web server access logs in Common or Combined "
    'Log Format, e.g. 203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 512.'
)
# Common and Combined Log Format (Apache, nginx).
LINE_RE = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\S+)'
    r'(?: "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)")?'
)
ATTACKS = [
    ("Path traversal", re.compile(r"\.\./|\.\.%2f|%2e%2e", re.I)),
    (
        "Sensitive file probe",
        re.compile(r"/\.env|/\.git|wp-config|/etc/passwd|\.aws/|id_rsa|\.htpasswd", re.I),
    ),
    (
        "SQL injection",
        re.compile(r"union(\s|%20|\+)+select|'\s*or\s*'?1'?\s*=\s*'?1|%27(\s|%20|\+)*or|sleep\(\d", re.I),
    ),
    ("Cross-site scripting", re.compile(r"<script|%3cscript|javascript:|onerror=", re.I)),
    ("Command injection", re.compile(r";\s*(wget|curl|bash|sh)\b|\$\(|%60|\|\s*nc\b", re.I)),
    (
        "Admin/CMS login probe",
        re.compile(r"wp-login\.php|xmlrpc\.php|/phpmyadmin|/administrator|/manager/html", re.I),
    ),
]
# A finding's tag and its colour on the page.
TAG_LEVELS = {"ATTACK": DANGER, "AUTH": DANGER, "BURST": WARNING, "SCAN": WARNING, "ERRORS": WARNING}
SCANNERS = re.compile(
    r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|gobuster|dirbuster|wpscan|hydra|python-requests|curl/", re.I
)


def _minute(raw: str) -> str:
    try:
        return datetime.strptime(raw, "%d/%b/%Y:%H:%M:%S %z").strftime("%Y-%m-%d %H:%M %z")
    except ValueError:
        return raw[:17]


def percentages(counts: Counter[str]) -> dict[str, int]:
    """Whole percentages that add up to 100 (largest remainder): flooring each share alone can lose
    a point or two (three equal classes would read 33% + 33% + 33%)."""
    total = sum(counts.values())
    if not total:
        return {}
    exact = {key: n * 100 / total for key, n in counts.items()}
    shares = {key: int(value) for key, value in exact.items()}
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - shares[key]), str(key)))
    for key in by_remainder[: 100 - sum(shares.values())]:
        shares[key] += 1
    return shares


def validate_input(text: str) -> str:
    """Refuse, before the charge, input with no access-log line or more lines than one run reads."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise InvalidAgentInput(
            f"The log has {len(lines):,} lines; this agent triages up to {MAX_LINES:,} per run. "
            "Split it over several runs."
        )
    if not any(LINE_RE.match(line) for line in lines):
        raise InvalidAgentInput(NOT_A_LOG)
    return text


def triage_log(input_text: str, config: dict) -> Report:
    """Runner: summarise an access log and point at the IPs and requests worth a look."""
    burst_limit = int(config.get("burst_per_minute", 30))
    raw_lines = [line for line in input_text.splitlines()[: MAX_LINES + 1] if line.strip()]
    truncated = len(raw_lines) > MAX_LINES
    raw_lines = raw_lines[:MAX_LINES]
    ips: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    paths: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    per_minute: Counter[str] = Counter()
    ip_minute: Counter[tuple[str, str]] = Counter()
    ip_errors: Counter[str] = Counter()
    ip_auth_fail: Counter[str] = Counter()
    attacks: dict[str, Counter] = defaultdict(Counter)
    scanners: Counter = Counter()
    unparsed, first_unparsed = 0, None
    first_time: str | None = None
    last_time: str | None = None
    for number, line in enumerate(raw_lines, 1):
        m = LINE_RE.match(line)
        if not m:
            unparsed += 1
            first_unparsed = first_unparsed or number
            continue
        ip, status = m["ip"], int(m["status"])
        request = m["request"].split(" ")
        method, path = (request[0], request[1]) if len(request) >= 2 else ("?", m["request"])
        minute = _minute(m["time"])
        first_time = first_time or m["time"]
        last_time = m["time"]
        ips[ip] += 1
        statuses[status] += 1
        paths[path.split("?", 1)[0]] += 1
        methods[method] += 1
        per_minute[minute] += 1
        ip_minute[(ip, minute)] += 1
        if status >= 400:
            ip_errors[ip] += 1
        if status in (401, 403):
            ip_auth_fail[ip] += 1
        for name, pattern in ATTACKS:
            if pattern.search(m["request"]):
                attacks[name][ip] += 1
        if m["agent"] and SCANNERS.search(m["agent"]):
            scanners[ip] += 1
    parsed = len(raw_lines) - unparsed
    if parsed == 0:
        raise RunnerError("no parsable log lines", user_message=NOT_A_LOG)

    out = ReportWriter()
    out.line("ACCESS LOG TRIAGE")
    out.line()
    read = f"{len(raw_lines)} read, {parsed} parsed, {unparsed} not recognised" + (
        f" (first at line {first_unparsed})" if first_unparsed else ""
    )
    span = f"{printable(str(first_time), 40)} to {printable(str(last_time), 40)}"
    out.line(f"Lines: {read}")
    if truncated:
        out.line(f"Only the first {MAX_LINES} lines were analysed.")
    out.line(f"Time span: {span}")
    out.line(f"Unique client IPs: {len(ips)}")
    out.line()
    out.add(Block("facts", "Summary", items=[
        ("Lines", read), ("Time span", span), ("Unique client IPs", str(len(ips))),
    ]))
    if truncated:
        out.add(Block("note", text=f"Only the first {MAX_LINES:,} lines were analysed."))
    classes = Counter(f"{code // 100}xx" for code in statuses.elements())
    shares = percentages(classes)
    by_class = ", ".join(f"{cls}: {n} ({shares[cls]}%)" for cls, n in sorted(classes.items()))
    most_common = ", ".join(f"{code} x{n}" for code, n in top(statuses, 8))
    out.line("Status codes")
    out.line(f"  {by_class}")
    out.line(f"  Top: {most_common}")
    out.line()
    out.add(Block("facts", "Status codes", items=[("By class", by_class), ("Most common", most_common)]))
    out.line("Top client IPs")
    ip_rows = []
    for ip, n in top(ips, 10):
        requests, errors = plural(n, "request"), plural(ip_errors[ip], "error")
        out.line(f"  {printable(ip, 45):<40}{requests:>16}  {errors:>12}")
        ip_rows.append([printable(ip, 45), str(n), str(ip_errors[ip])])
    out.line()
    out.add(Block("table", "Top client IPs", ["Client IP", "Requests", "Errors"], ip_rows, numeric=(1, 2)))
    out.line("Top paths")
    path_rows = []
    for path, n in top(paths, 10):
        out.line(f"  {n:>7}  {printable(path, 100)}")
        path_rows.append([str(n), printable(path, 100)])
    out.line()
    out.add(Block("table", "Top paths", ["Requests", "Path"], path_rows, numeric=(0,)))

    findings: list[tuple[str, str]] = []  # (tag, text)
    suspects: set[str] = set()  # who to review: bursts, failed logins, scanners
    busiest = top(per_minute, 1)[0]
    busiest_text = f"{busiest[0]} with {plural(busiest[1], 'request')}"
    out.line(f"Busiest minute: {busiest_text}")
    out.add(Block("facts", items=[("Busiest minute", busiest_text)]))
    bursts = [(key, n) for key, n in top(ip_minute, 10) if n >= burst_limit]
    for (ip, minute), n in bursts:
        suspects.add(printable(ip, 45))
        findings.append(("BURST", f"{printable(ip, 45)} sent {plural(n, 'request')} in the minute {minute} "
                         f"(threshold {burst_limit}/min)"))
    for ip, n in top(ip_auth_fail, 5):
        if n >= 5:
            suspects.add(printable(ip, 45))
            findings.append(("AUTH", f"{printable(ip, 45)} got {plural(n, '401/403 response')}: "
                             "possible credential stuffing or brute force"))
    for name, counter in sorted(attacks.items()):
        total = sum(counter.values())
        who = ", ".join(f"{printable(ip, 45)} x{n}" for ip, n in top(counter, 3))
        findings.append(("ATTACK", f"{name}: {plural(total, 'request')} from {who}"))
    for ip, n in top(scanners, 5):
        suspects.add(printable(ip, 45))
        findings.append(
            ("SCAN", f"{printable(ip, 45)} uses a scanner or script user agent ({plural(n, 'request')})")
        )
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    if server_errors * 20 > parsed:
        share = server_errors * 100 // parsed
        findings.append(("ERRORS", f"{share}% of requests failed with 5xx: check the backend"))
    out.line()
    out.line("Findings")
    for tag, text in findings:
        out.line(f"  {'[' + tag + ']':<9}{text}")
    if not findings:
        out.line("  No bursts, probes or attack patterns found.")
    out.add(Block("list", "Findings", items=[(tag, TAG_LEVELS[tag], text) for tag, text in findings]
                  or [("", INFO, "No bursts, probes or attack patterns found.")]))
    tags = {tag for tag, _text in findings}
    if tags & {"ATTACK", "AUTH"}:
        verdict = Verdict(DANGER, "Attack traffic found")
    elif tags:
        verdict = Verdict(WARNING, "Needs review")
    else:
        verdict = Verdict(OK, "Nothing urgent")
    out.line()
    if suspects:
        blocked = ", ".join(sorted(suspects)[:10])
        out.line(f"RECOMMENDATION: review and consider rate-limiting or blocking: {blocked}")
        advice = f"Review and consider rate-limiting or blocking: {blocked}"
    else:
        out.line("RECOMMENDATION: nothing urgent; keep monitoring.")
        advice = "Nothing urgent; keep monitoring."
    out.add(Block("callout", "Recommendation", text=advice, level=verdict.level))
    return out.finish(verdict)
