"""What the redaction processor looks for: secrets (on by default) and personal data.

Each pattern has a kind (the mask says it: ``[REDACTED:openai_key]``) and an optional check
that a match must also pass (a card number's Luhn digit, a phone number's digit count).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    group: int = 0  # the part of the match that is masked (0: all of it)
    #: A bytes pattern that leads with a literal (which the regex engine finds fast) and
    #: matches, in the lower-cased body, in the text wherever ``regex`` could match (a few
    #: bytes into it: a lookbehind checks what precedes a rarer leading literal, which the
    #: engine skips to faster): the fast path's look-out.  None: no fast path (every span is
    #: looked at).
    scan: bytes | None = None


def _re(source: str) -> re.Pattern[str]:
    # ASCII classes, as in the bytes form the fast path searches the encoded body with.
    return re.compile(source, re.ASCII)


def luhn(text: str) -> bool:
    """True for 13 to 19 digits whose Luhn check digit is right."""
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _phone_digits(text: str) -> bool:
    return 10 <= sum(c.isdigit() for c in text) <= 15


SECRETS: tuple[Pattern, ...] = (
    Pattern("private_key", re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
            scan=rb"key-----(?<=private key-----)"),
    Pattern("anthropic_key", _re(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
            scan=rb"k-ant-(?<=sk-ant-)"),
    Pattern("openai_key", _re(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
            scan=rb"k-(?<=sk-)"),
    Pattern("google_key", _re(r"\bAIza[0-9A-Za-z_\-]{35}"),
            scan=rb"za(?<=aiza)"),
    Pattern("aws_key", _re(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
            scan=rb"ia(?<=a[ks]ia)"),
    Pattern("github_token", _re(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})"),
            scan=rb"gh[pousr]_|github_pat_"),
    Pattern("huggingface_token", _re(r"\bhf_[A-Za-z0-9]{30,}"),
            scan=rb"f_(?<=hf_)"),
    Pattern("groq_key", _re(r"\bgsk_[A-Za-z0-9]{40,}"),
            scan=rb"k_(?<=gsk_)"),
    Pattern("slack_token", _re(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
            scan=rb"xox[abprs]-"),
    Pattern("stripe_key", _re(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
            scan=rb"k_(?:live|test)_"),
    Pattern("jwt", _re(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"),
            scan=rb"yj(?<=eyj)"),
    Pattern("bearer_token", _re(r"\b(?i:bearer)\s+([A-Za-z0-9._~+/=\-]{8,})"), group=1,
            scan=rb"bearer"),
    Pattern("basic_auth", _re(r"\b[A-Za-z][A-Za-z0-9+.\-]*://([^/\s:@]+:[^/\s@]+)@"),
            group=1,
            scan=rb"://[^/\s:@]+:[^/\s@]+@"),
)

PII: tuple[Pattern, ...] = (
    Pattern("email", _re(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")),
    Pattern("card_number", _re(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-])"), luhn),
    Pattern("ip_address", re.compile(
        r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
        r"|(?<![:\w])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![:\w])"
        r"|(?<![:\w])(?:[0-9A-Fa-f]{1,4}:){1,6}(?::[0-9A-Fa-f]{1,4}){1,6}(?![:\w])")),
    # +<country> and groups, or the 3-3-4 national form ((415) 555-0100): not dates or times.
    Pattern("phone", _re(r"(?<![\w+])(?:\+\d{1,3}(?:[\s.\-]?\(?\d{1,4}\)?){2,5}"
                         r"|\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4})(?![\w:])"), _phone_digits),
)


def custom(patterns: dict[str, str]) -> tuple[Pattern, ...]:
    """User patterns, ``{kind: regex}`` (a bad regex raises ``ValueError`` naming it)."""
    out = []
    for kind, source in patterns.items():
        try:
            out.append(Pattern(str(kind), re.compile(source)))
        except re.error as exc:
            raise ValueError(f"redaction pattern {kind!r}: {exc}") from None
    return tuple(out)


# Look-outs that one pass over the body can share: when every kind of a group is chosen, the
# group's look-out replaces theirs (it matches wherever any of theirs does).
_SHARED: tuple[tuple[frozenset[str], bytes], ...] = (
    (frozenset({"openai_key", "anthropic_key"}), rb"k-(?<=sk-)"),  # sk-ant- is an sk-
    (frozenset({"groq_key", "stripe_key"}), rb"k_(?:(?<=gsk_)|(?:live|test)_)"),
)


def lookouts(chosen: tuple[Pattern, ...] | list[Pattern]) -> list[bytes] | None:
    """The look-outs to search the lower-cased body with, for these patterns: theirs, those
    that can share a pass merged; None if a pattern has none (no fast path)."""
    if any(p.scan is None for p in chosen):
        return None
    kinds = {p.kind for p in chosen}
    out: list[bytes] = []
    covered: set[str] = set()
    for group, scan in _SHARED:
        if group <= kinds:
            out.append(scan)
            covered |= group
    out += [p.scan for p in chosen if p.kind not in covered and p.scan is not None]
    return out
