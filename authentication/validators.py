"""The display name: one line of plain text that cannot pass for a message of ours.

It reaches emails (receipts greet people by it) and the admin as stored, so a name could otherwise
write a line break and "URGENT: your card was charged ... http://evil.example" into a receipt, or
turn the text around it with a bidi override (U+202E). On the model field, so the sign-up and account
forms and the admin all refuse such a name.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

DISPLAY_NAME_MAX_LENGTH = 50
# Control (Cc), format (Cf: bidi marks, embeddings, overrides and isolates, zero-width characters),
# surrogates and private use, and the line and paragraph separators.
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
# After NFKC (which folds fullwidth and other look-alike dots into "."): a dot between letters or digits
# followed by a would-be top-level domain reads as a domain ("evil.example", "paypal.com/x").
_DOMAIN_RE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\.[^\W\d_]{2,}", re.UNICODE)
_LINK_WORDS = ("http", "www.")
_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\u2024": "."})

ONE_LINE = "Use one line of letters, digits, spaces and punctuation (no control or direction characters)."
NO_LINKS = "A display name cannot contain a link or a web address."
TOO_LONG = f"Keep the display name to {DISPLAY_NAME_MAX_LENGTH} characters or fewer."


@deconstructible
class DisplayNameValidator:
    """Refuse a display name that is longer than DISPLAY_NAME_MAX_LENGTH, spans lines, carries control or
    bidi characters, or holds a link (\"http\", \"www.\" or a domain-looking token)."""

    def __call__(self, value: str) -> None:
        if len(value) > DISPLAY_NAME_MAX_LENGTH:
            raise ValidationError(TOO_LONG, code="display_name_too_long")
        if any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in value):
            raise ValidationError(ONE_LINE, code="display_name_control")
        folded = unicodedata.normalize("NFKC", value).translate(_DOTS).casefold()
        if any(word in folded for word in _LINK_WORDS) or _DOMAIN_RE.search(folded):
            raise ValidationError(NO_LINKS, code="display_name_link")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DisplayNameValidator)


validate_display_name = DisplayNameValidator()


def default_display_name(email: str) -> str:
    """The name for an account created without one (createsuperuser, scripts): the address's local part,
    made to pass the validator ("jane.doe" would read as a domain)."""
    local = email.split("@", 1)[0]
    cleaned = "".join(" " if unicodedata.category(ch) in REFUSED_CATEGORIES else ch for ch in local)
    name = " ".join(re.sub(r"[._+]+", " ", cleaned).split())[:DISPLAY_NAME_MAX_LENGTH].strip()
    try:
        validate_display_name(name)
    except ValidationError:
        return "NetCop user"
    return name or "NetCop user"
