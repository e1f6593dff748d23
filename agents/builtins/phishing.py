"""Phishing-URL checker: scores each URL in the input on host and path heuristics, offline."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ..exceptions import InvalidAgentInput, RunnerError
from ..limits import InputLimits
from ..reports import DANGER, INFO, OK, WARNING, Block, Report, ReportWriter, Verdict
from ._util import plural, printable, registrable_domain

MAX_URLS = 25
MAX_SCAN_CHARS = 200_000
LIMITS = InputLimits(max_chars=50_000, notes=(f"Up to {MAX_URLS} URLs per run",))
NO_URL = "No URL found. This agent checks links: paste one or more, e.g. https://example.com/login."

# Brand -> registrable domains it really owns.
BRANDS: dict[str, set[str]] = {
    "paypal": {"paypal.com", "paypal.me"},
    "apple": {"apple.com", "icloud.com"},
    "icloud": {"icloud.com", "apple.com"},
    "google": {"google.com", "google.ae", "gmail.com", "youtube.com"},
    "gmail": {"gmail.com", "google.com"},
    "microsoft": {"microsoft.com", "live.com", "office.com", "microsoftonline.com"},
    "office365": {"office.com", "microsoft.com"},
    "outlook": {"outlook.com", "live.com", "office.com"},
    "amazon": {"amazon.com", "amazon.ae", "amazon.co.uk", "aws.amazon.com"},
    "netflix": {"netflix.com"},
    "facebook": {"facebook.com", "fb.com"},
    "instagram": {"instagram.com"},
    "whatsapp": {"whatsapp.com", "whatsapp.net"},
    "linkedin": {"linkedin.com"},
    "dropbox": {"dropbox.com"},
    "docusign": {"docusign.com", "docusign.net"},
    "fedex": {"fedex.com"},
    "emiratesnbd": {"emiratesnbd.com"},
    "adcb": {"adcb.com"},
    "mashreq": {"mashreq.com", "mashreqbank.com"},
    "etisalat": {"etisalat.ae", "eand.com"},
    "binance": {"binance.com"},
    "coinbase": {"coinbase.com"},
    "metamask": {"metamask.io"},
    "github": {"github.com"},
    "chase": {"chase.com"},
    "wellsfargo": {"wellsfargo.com"},
}
SUSPICIOUS_TLDS = {
    "zip", "mov", "xyz", "top", "tk", "ml", "ga", "cf", "gq", "click", "country", "kim", "work",
    "support", "rest", "fit", "cam", "icu", "monster", "buzz", "link", "quest", "sbs", "cfd", "loan",
}
SHORTENERS = {
    "bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "cutt.ly",
    "rebrand.ly", "s.id", "t.ly", "shorturl.at", "rb.gy",
}
KEYWORDS = (
    "login", "signin", "sign-in", "logon", "verify", "verification", "update", "secure", "account",
    "banking", "wallet", "confirm", "password", "unlock", "suspend", "invoice", "billing",
)
RISKY_EXTENSIONS = (".exe", ".scr", ".apk", ".msi", ".vbs", ".js", ".jar", ".iso", ".bat", ".hta", ".lnk")
# Characters that render like Latin letters (Cyrillic, Greek, Latin extensions) and digit swaps.
CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ѕ": "s",
        "ј": "j", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ο": "o", "α": "a", "ν": "v", "ι": "i",
        "κ": "k", "τ": "t", "ρ": "p", "ε": "e", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s",
        "7": "t", "$": "s", "@": "a",
    }
)
# Punctuation stripped from tokens, not a password (bandit B105 reads "TOKEN" as one).
_TOKEN_STRIP = "<>()[]{}\"'`,;!"  # nosec B105
_DOMAIN_RE = re.compile(r"^[\w\-]+(\.[\w\-]+)+(:\d+)?(/\S*)?$", re.UNICODE)
_OBFUSCATED_IP_RE = re.compile(r"^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}$", re.I)
_REDIRECT_PARAM_RE = re.compile(
    r"(^|&)(url|redirect|next|goto|dest|destination|continue|u|r)=(https?|%2f|//)", re.I
)


# A URL's verdict as the page's badge: (level, label).
VERDICT_BADGES = {
    "HIGH RISK": (DANGER, "High risk"),
    "SUSPICIOUS": (WARNING, "Suspicious"),
    "LOW RISK": (INFO, "Low risk"),
    "NO RED FLAGS FOUND": (OK, "No red flags"),
}


@dataclass
class UrlReport:
    original: str
    host: str = ""
    domain: str = ""
    display_host: str = ""
    score: int = 0
    findings: list[tuple[int, str]] = field(default_factory=list)

    def flag(self, points: int, text: str) -> None:
        self.findings.append((points, text))
        self.score += points

    @property
    def verdict(self) -> str:
        if self.score >= 6:
            return "HIGH RISK (likely phishing)"
        if self.score >= 3:
            return "SUSPICIOUS"
        if self.score >= 1:
            return "LOW RISK"
        return "NO RED FLAGS FOUND"


def _within_edits(a: str, b: str, limit: int) -> bool:
    """Whether a and b are at most `limit` edits apart (Levenshtein), on every run's hot path: the
    table is computed only for pairs that pass two cheap lower bounds, and stops at the first row
    whose every entry is past the limit (the minimum of a row never decreases further down)."""
    if abs(len(a) - len(b)) > limit:
        return False
    # Every letter of one that the other lacks costs an edit of its own: most pairs end here.
    letters_a, letters_b = set(a), set(b)
    if len(letters_a - letters_b) > limit or len(letters_b - letters_a) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def _skeleton(label: str) -> str:
    """Fold a label to what a reader would see: homoglyphs and digit swaps to Latin letters."""
    folded = label.lower().translate(CONFUSABLES).replace("rn", "m").replace("vv", "w")
    return folded.replace("-", "")


def _scripts(text: str) -> set[str]:
    scripts = set()
    for ch in text:
        if ch.isalpha():
            try:
                scripts.add(unicodedata.name(ch).split(" ")[0])
            except ValueError:
                scripts.add("UNKNOWN")
    return scripts


def _decode_punycode(host: str) -> tuple[str, bool]:
    """The Unicode form of a host and whether any label was punycode (xn--)."""
    labels, had_puny = [], False
    for label in host.split("."):
        if label.startswith("xn--"):
            had_puny = True
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                label = label + "(invalid punycode)"
        labels.append(label)
    return ".".join(labels), had_puny


def extract_urls(text: str) -> list[str]:
    """URL-like tokens in order of first appearance, refanged (hxxp, [.]), without duplicates."""
    seen: dict[str, None] = {}
    for raw in text[:MAX_SCAN_CHARS].split():
        token = raw.strip(_TOKEN_STRIP).rstrip(".")
        token = re.sub(r"^hxxp", "http", token, flags=re.I).replace("[.]", ".").replace("(.)", ".")
        lower = token.lower()
        if (
            "://" in token
            or lower.startswith(("www.", "javascript:", "data:"))
            or (_DOMAIN_RE.match(token) and not token.replace(".", "").isdigit() and "@" not in token)
        ):
            seen.setdefault(token, None)
    return list(seen)


def analyse_url(url: str) -> UrlReport:
    report = UrlReport(original=url)
    lower = url.lower()
    if lower.startswith(("javascript:", "data:")):
        scheme = lower.split(":", 1)[0]
        report.flag(8, f"'{scheme}:' URL: runs code or embeds a page instead of opening a site")
        return report
    given_scheme = "://" in url
    if not given_scheme:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        report.flag(4, "The URL is malformed (invalid host or port), a common trick to confuse filters")
        return report
    if not host:
        report.flag(3, "No host name could be found in the URL")
        return report
    host = unquote(host).strip(".")
    if parts.scheme not in ("http", "https"):
        report.flag(1, f"Unusual scheme '{printable(parts.scheme, 20)}'")
    if "@" in parts.netloc:
        report.flag(
            4, f"Text before '@' is a user name, not the site: the browser really opens {printable(host)}"
        )
    if parts.scheme == "http" and given_scheme:
        report.flag(1, "Plain http: the connection is not encrypted")
    if port and port not in (80, 443):
        report.flag(1, f"Non-standard port {port}")

    unicode_host, had_puny = _decode_punycode(host)
    report.host, report.display_host = host, unicode_host
    # An IP address (or an integer/hex spelling of one) instead of a name hides who runs the site.
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        where = " (private/loopback address)" if (ip.is_private or ip.is_loopback) else ""
        report.flag(3, f"The host is a bare IP address {ip}{where}, not a domain name")
        report.domain = str(ip)
    elif _OBFUSCATED_IP_RE.match(host):
        report.flag(4, "The host is an obfuscated IP address (integer, octal or hex form)")
        report.domain = host
    if report.domain:
        _check_path(report, parts)
        return report

    report.domain = registrable_domain(unicode_host)
    labels = unicode_host.split(".")
    tld = labels[-1]
    if had_puny:
        report.flag(2, f"Internationalised (punycode) domain; it displays as '{printable(unicode_host)}'")
    if any(ord(ch) > 127 for ch in unicode_host):
        for label in labels:
            scripts = _scripts(label)
            if len(scripts) > 1:
                report.flag(
                    4,
                    f"Label '{printable(label, 40)}' mixes scripts ({', '.join(sorted(scripts))}): "
                    "a homograph attack",
                )
                break
    if tld in SUSPICIOUS_TLDS:
        report.flag(2, f"Top-level domain .{tld} is heavily used for abuse")
    if report.domain in SHORTENERS:
        report.flag(2, "URL shortener: the real destination is hidden")
    sub_labels = labels[: -len(report.domain.split("."))]
    if len(sub_labels) >= 3:
        report.flag(1, f"Deep sub-domain nesting ({len(sub_labels)} levels) hides the real domain")
    core = report.domain.split(".")[0]
    if core.count("-") >= 2:
        report.flag(1, f"Many hyphens in the domain name '{printable(core, 40)}'")
    _check_brands(report, core, sub_labels)
    _check_path(report, parts)
    if len(url) > 120:
        report.flag(1, f"Very long URL ({len(url)} characters)")
    return report


# Each brand's first official domain (named in findings) and that domain's first label.
_OWNERS = {brand: sorted(official)[0] for brand, official in BRANDS.items()}
_OWNER_LABELS = {brand: owner.split(".")[0] for brand, owner in _OWNERS.items()}


def _check_brands(report: UrlReport, core: str, sub_labels: list[str]) -> None:
    skeleton = _skeleton(core)
    for brand, official in BRANDS.items():
        if report.domain in official:
            report.findings.append((0, f"The domain is an official {brand} domain"))
            return
    # Worked out once per URL, not once per brand (this loop is on the hot path of every run).
    core_words = re.split(r"[-_\d]+", core)
    sub_skeletons = [_skeleton(label) for label in sub_labels]
    for brand in BRANDS:
        owner = _OWNERS[brand]
        if skeleton == brand and core != brand:
            report.flag(5, f"'{printable(core, 40)}' imitates {brand} with look-alike characters ({owner})")
            return
        max_typos = 2 if len(brand) >= 8 else 1
        if len(brand) >= 5 and skeleton != brand and _within_edits(skeleton, brand, max_typos):
            report.flag(4, f"'{printable(core, 40)}' is one or two typos away from {brand} (real: {owner})")
            return
        in_name = brand in skeleton if len(brand) >= 6 else brand in core_words
        if in_name and core != brand:
            report.flag(3, f"The brand '{brand}' is part of a domain it does not own ({report.domain})")
            return
        if brand in sub_skeletons or _OWNER_LABELS[brand] in sub_labels:
            report.flag(4, f"'{brand}' appears as a sub-domain, but the site belongs to {report.domain}")
            return


def _check_path(report: UrlReport, parts) -> None:
    text = f"{parts.netloc}{parts.path}?{parts.query}".lower()
    hits = [word for word in KEYWORDS if word in text]
    if hits:
        report.flag(min(2, len(hits)), f"Credential-bait words: {', '.join(hits[:5])}")
    if "%25" in parts.path or "%2e" in parts.path.lower():
        report.flag(1, "Double or dot percent-encoding in the path")
    if _REDIRECT_PARAM_RE.search(parts.query):
        report.flag(1, "A redirect parameter carries another URL (open-redirect pattern)")
    path = parts.path.lower()
    for brand, official in BRANDS.items():
        if len(brand) >= 5 and brand in path and report.domain not in official:
            report.flag(2, f"The path mentions '{brand}' on a site {brand} does not own")
            break
    if parts.path.lower().endswith(RISKY_EXTENSIONS):
        report.flag(2, "The link downloads an executable or script file")


def validate_input(text: str) -> str:
    """Refuse, before the charge, input without a URL or with more URLs than one run checks."""
    urls = extract_urls(text)
    if not urls:
        raise InvalidAgentInput(NO_URL)
    if len(urls) > MAX_URLS:
        raise InvalidAgentInput(
            f"The input has {len(urls)} different URLs; this agent checks up to {MAX_URLS} per run. "
            "Split them over several runs."
        )
    return text


def check_urls(input_text: str, config: dict) -> Report:
    """Runner: analyse each URL in the input and write a report."""
    urls = extract_urls(input_text)
    if not urls:
        raise RunnerError("no URL in input", user_message=NO_URL)
    truncated = len(urls) > MAX_URLS
    reports = [analyse_url(u) for u in urls[:MAX_URLS]]
    out = ReportWriter()
    out.line(f"PHISHING URL CHECK: {plural(len(reports), 'URL')} analysed")
    out.line()
    for i, r in enumerate(reports, 1):
        level, label = VERDICT_BADGES[r.verdict.split(" (")[0]]
        card = out.add(Block("card", title=printable(r.original, 200), badge=Verdict(level, label)))
        out.line(f"[{i}] {card.title}")
        if r.display_host:
            shown = r.display_host if r.display_host == r.host else f"{r.display_host} (sent as {r.host})"
            out.line(f"    Host:    {printable(shown, 160)}")
            out.line(f"    Domain:  {printable(r.domain, 80)}")
            card.facts += [("Host", printable(shown, 160)), ("Domain", printable(r.domain, 80))]
        out.line(f"    Verdict: {r.verdict} (risk score {r.score})")
        card.facts.append(("Risk score", str(r.score)))
        for points, text in r.findings:
            out.line(f"    - {f'[+{points}] ' if points else ''}{text}")
            card.items.append((f"+{points}", _points_level(points), text) if points else ("", OK, text))
        if not r.findings:
            out.line("    - No heuristic matched.")
            card.items.append(("", OK, "No heuristic matched."))
        out.line()
    high = sum(r.score >= 6 for r in reports)
    suspicious = sum(3 <= r.score < 6 for r in reports)
    low = len(reports) - high - suspicious
    # The report's verdict is its worst URL's.
    worst = max(reports, key=lambda r: r.score)
    verdict = Verdict(*VERDICT_BADGES[worst.verdict.split(" (")[0]])
    summary = f"{high} high risk, {suspicious} suspicious, {low} low risk or clean."
    out.line(f"SUMMARY: {summary}")
    out.add(Block("callout", "Summary", text=summary, level=verdict.level))
    notes = []
    if truncated:
        notes.append(f"Only the first {MAX_URLS} of {len(urls)} URLs were analysed.")
    notes.append(
        "Method: offline heuristics on the URL text (no page was fetched). A clean result is not a "
        "guarantee; never enter credentials after following a link from a message."
    )
    for note in notes:
        out.line(note)
    out.add(Block("note", text=" ".join(notes)))
    return out.finish(verdict)


def _points_level(points: int) -> str:
    return DANGER if points >= 4 else WARNING if points >= 2 else INFO
