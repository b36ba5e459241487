"""Phone and ID-card numbers: one pattern for reading them into a record and for masking them
in everything the bot says in a group.

People type a mobile number every way a phone keyboard or a pasted card allows: 13812345678,
138-1234-5678, 138 1234 5678 (also with double spaces, tabs, no-break spaces or a line break
between the groups), 138.1234.5678, (138)1234-5678, +86 138…, 0086…, full-width １３８…, and
Arabic-Indic digits from some keyboards. ID-card numbers are 18 characters, the last may be X.
Matching runs on a folded copy of the text — every decimal digit made ASCII, full-width
punctuation made half-width, one character for one — so a match's span is the same in the text
as typed, and the number is replaced where it stands.

Separators are allowed only between the groups people use (3-4-4 for a mobile, 6-8-4 for an ID):
"13 14 15 16 17 18号楼" is a list of buildings, not a phone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_SEP = r"[\s\-.·_/)(\u2010-\u2015]{0,3}"  # between groups: spaces of any kind, a line break, - . / ( )
_PREFIX = r"(?:(?:\+|00)\s*86\s*-?\s*|\(\s*(?:\+|00)?86\s*\)\s*|86-)?"
PHONE = re.compile(rf"(?<![\dxX])({_PREFIX}\(?(1[3-9]\d){_SEP}(\d{{4}}){_SEP}(\d{{4}}))(?!\d)")
ID_NUMBER = re.compile(
    rf"(?<![\dxX])(\d{{6}}){_SEP}((?:19|20)\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])){_SEP}(\d{{3}}[\dxX])(?![\dxX])"
)


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


def fold(text: str) -> str:
    """The text with every digit ASCII and full-width punctuation half-width, same length."""
    if text.isascii():
        return text
    return "".join(_fold_char(char) for char in text)


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit() or char in "xX").upper()


@dataclass(frozen=True)
class Found:
    number: str  # normalised: 13812345678, or an ID's 18 characters with a capital X
    start: int
    end: int


_ANY_DIGIT = re.compile(r"\d")  # any script's decimal digit, as unicodedata.decimal reads them


def find_phone(text: str) -> Found | None:
    """The first mobile number in ``text``, normalised to 11 ASCII digits."""
    if len(_ANY_DIGIT.findall(text)) < 11:
        return None  # most messages: no phone fits, and folding every character costs a parse
    match = PHONE.search(fold(text))
    if match is None:
        return None
    digits = match.group(2) + match.group(3) + match.group(4)
    return Found(_digits(digits), match.start(1), match.end(1))


def mask(text: str | None) -> str:
    """Every mobile number (138****5678) and ID-card number (310***********123X) in ``text``
    masked, wherever and however it was typed."""
    if not text:
        return ""
    folded = fold(text)
    spans: list[tuple[int, int, str]] = []
    for match in ID_NUMBER.finditer(folded):
        number = _digits(match.group(0))
        spans.append((match.start(), match.end(), f"{number[:3]}{'*' * 11}{number[-4:]}"))
    for match in PHONE.finditer(folded):
        if any(start < match.end(1) and match.start(1) < end for start, end, _ in spans):
            continue
        spans.append((match.start(1), match.end(1), f"{match.group(2)}****{match.group(4)}"))
    if not spans:
        return text
    shown, last = [], 0
    for start, end, replacement in sorted(spans):
        shown.append(text[last:start])
        shown.append(replacement)
        last = end
    shown.append(text[last:])
    return "".join(shown)


def has_number(text: str) -> bool:
    """Is there a phone or ID number in ``text`` that :func:`mask` would hide?"""
    folded = fold(text)
    return PHONE.search(folded) is not None or ID_NUMBER.search(folded) is not None
