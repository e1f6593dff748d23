"""Password-strength auditor built on zxcvbn (Dropbox's estimator). Never repeats the password."""

from __future__ import annotations

from zxcvbn import zxcvbn

from ..exceptions import InvalidAgentInput, RunnerError
from ..limits import InputLimits
from ..reports import DANGER, INFO, OK, WARNING, Block, Report, ReportWriter, Verdict
from ._util import plural

MAX_PASSWORDS = 10
MAX_LENGTH = 72  # zxcvbn refuses longer input (its matching is quadratic); we analyse a prefix.
LIMITS = InputLimits(
    max_chars=2_000,
    notes=(
        f"Up to {MAX_PASSWORDS} passwords, one per line",
        f"The first {MAX_LENGTH} characters of each are scored",
    ),
)
NOTHING_TO_AUDIT = "Enter a password to audit (one per line)."
SCORE_LABELS = ["very weak", "weak", "fair", "strong", "very strong"]
SCENARIOS = [
    ("online_throttling_100_per_hour", "Online, throttled (100/hour)"),
    ("online_no_throttling_10_per_second", "Online, unthrottled (10/s)"),
    ("offline_slow_hashing_1e4_per_second", "Offline, slow hash (10k/s)"),
    ("offline_fast_hashing_1e10_per_second", "Offline, fast hash (10bn/s)"),
]
PATTERN_NAMES = {
    "dictionary": "dictionary word",
    "spatial": "keyboard pattern",
    "repeat": "repeated characters",
    "sequence": "sequence (abc, 123)",
    "regex": "recent year",
    "date": "date",
    "bruteforce": "random characters",
}


def _classes(password: str) -> list[str]:
    found = []
    if any(c.islower() for c in password):
        found.append("lower-case")
    if any(c.isupper() for c in password):
        found.append("upper-case")
    if any(c.isdigit() for c in password):
        found.append("digits")
    if any(not c.isalnum() and not c.isspace() for c in password):
        found.append("symbols")
    if any(c.isspace() for c in password):
        found.append("spaces")
    return found


def _pattern(match: dict) -> str:
    # Describe each part without quoting it: the report is stored, the password must not be.
    name = PATTERN_NAMES.get(str(match.get("pattern")), str(match.get("pattern")))
    length = len(match.get("token", ""))
    extra = ""
    if match.get("pattern") == "dictionary":
        source = match.get("dictionary_name", "").replace("_", " ")
        extra = f" from the {source} list, rank {match.get('rank')}"
        if match.get("l33t"):
            extra += ", with l33t substitutions"
        if match.get("reversed"):
            extra += ", reversed"
    return f"{name} ({plural(length, 'char')}{extra})"


def _candidates(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def validate_input(text: str) -> str:
    """Refuse, before the charge, input without a password or with more than one run audits."""
    count = len(_candidates(text))
    if not count:
        raise InvalidAgentInput(NOTHING_TO_AUDIT)
    if count > MAX_PASSWORDS:
        raise InvalidAgentInput(
            f"The input has {count} passwords (one per line); "
            f"this agent audits up to {MAX_PASSWORDS} per run."
        )
    return text


def audit_passwords(input_text: str, config: dict) -> Report:
    """Runner: one password per line (up to 10), each scored by zxcvbn with advice."""
    candidates = _candidates(input_text)
    if not candidates:
        raise RunnerError("no password", user_message=NOTHING_TO_AUDIT)
    min_length = int(config.get("min_length", 12))
    out = ReportWriter()
    out.line(f"PASSWORD STRENGTH AUDIT: {plural(min(len(candidates), MAX_PASSWORDS), 'password')}")
    out.line()
    passed = 0
    for i, password in enumerate(candidates[:MAX_PASSWORDS], 1):
        result = zxcvbn(password[:MAX_LENGTH], max_length=MAX_LENGTH)
        score = int(result["score"])
        classes = _classes(password)
        problems = []
        if len(password) < min_length:
            problems.append(f"shorter than {min_length} characters")
        if score < 3:
            problems.append("guessable (zxcvbn score below 3)")
        if any(m.get("pattern") == "dictionary" and m.get("dictionary_name") == "passwords"
               and int(m.get("rank", 10**9)) <= 10_000 and len(m.get("token", "")) == len(password)
               for m in result["sequence"]):
            problems.append("in the 10,000 most common passwords")
        ok = not problems
        passed += ok
        # The card never repeats the password: its number, length and analysis only.
        card = out.add(Block(
            "card", title=f"Password {i} ({plural(len(password), 'character')})",
            badge=Verdict(OK, "Passes") if ok else Verdict(DANGER, "Fails"),
        ))
        out.line(card.title)
        facts = []
        if len(password) > MAX_LENGTH:
            facts.append(("Note", f"only the first {MAX_LENGTH} characters were analysed."))
        facts += [
            ("Strength", f"{score}/4, {SCORE_LABELS[score]}"),
            ("Guesses", f"about 10^{result['guesses_log10']:.1f}"),
            ("Characters", ", ".join(classes) or "none"),
        ]
        for label, value in facts:
            # "Note: only the first ..." reads as a sentence; the figures line up in a column.
            out.line(f"  Note: {value}" if label == "Note" else f"  {label + ':':<12}{value}")
        out.line("  Time to crack:")
        for key, label in SCENARIOS:
            out.line(f"    {label + ':':<30}{result['crack_times_display'][key]}")
            facts.append((label, result["crack_times_display"][key]))
        made_of = "; ".join(_pattern(m) for m in result["sequence"])
        out.line(f"  Made of:    {made_of}")
        facts.append(("Made of", made_of))
        card.facts = facts
        feedback = result["feedback"]
        if feedback.get("warning"):
            out.line(f"  Warning:    {feedback['warning']}")
            card.items.append(("WARNING", WARNING, feedback["warning"]))
        for suggestion in feedback.get("suggestions", []):
            out.line(f"  Tip:        {suggestion}")
            card.items.append(("TIP", INFO, suggestion))
        out.line(f"  Policy:     {'PASS' if ok else 'FAIL: ' + '; '.join(problems)}")
        card.items.extend(("FAIL", DANGER, problem) for problem in problems)
        out.line()
    if len(candidates) > MAX_PASSWORDS:
        only = f"Only the first {MAX_PASSWORDS} of {len(candidates)} lines were audited."
        out.line(only)
        out.add(Block("note", text=only))
    audited = min(len(candidates), MAX_PASSWORDS)
    result_text = (f"{passed} of {audited} {'meets' if audited == 1 else 'meet'} the policy "
                   f"(at least {min_length} characters, zxcvbn score 3+, not a common password).")
    out.line(f"RESULT: {result_text}")
    if passed == audited:
        verdict = Verdict(OK, "All pass" if audited > 1 else "Passes the policy")
    elif passed == 0:
        verdict = Verdict(DANGER, "Fails the policy" if audited == 1 else "None pass")
    else:
        verdict = Verdict(WARNING, f"{audited - passed} of {audited} fail")
    out.add(Block("callout", "Result", text=result_text, level=verdict.level))
    advice = "Your input is not stored with this run. Prefer a password manager and unique passphrases."
    out.line(advice)
    out.add(Block("note", text=advice))
    return out.finish(verdict)
