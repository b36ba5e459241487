"""Chinese numerals as residents type them: 三, 十一, 三十六, 两, 二零一 / 二〇一 (read digit by digit)."""

from __future__ import annotations

import re

# Nothing in an estate counts past this (people, rooms, record numbers), and it fits every
# integer column on SQLite and PostgreSQL: a longer run of digits is not a number to us.
MAX_DIGITS = 9
_RECORD_NUMBER = re.compile(r"[NnＮ#＃]?\s*([0-9]{1,%d})" % MAX_DIGITS)

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL_CHARS = "".join(DIGITS) + "".join(UNITS)


def to_int(text: str) -> int | None:
    """'36' → 36, '三十六' → 36, '十一' → 11, '二零一' → 201, '两' → 2; None if not a number."""
    text = text.strip()
    if not text or len(text) > MAX_DIGITS:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    if any(ch not in DIGITS and ch not in UNITS for ch in text):
        return None
    if not any(ch in UNITS for ch in text):  # 二零一: digit by digit, as room numbers are read
        return int("".join(str(DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in DIGITS:
            current = DIGITS[ch]
        else:
            total += (current or 1) * UNITS[ch]
            current = 0
    return total + current


def record_number(text: str) -> int | None:
    """A record or notice number as typed: '12', 'N12', '#12' → 12. None for anything else,
    including numbers no record can have (0, or more than nine digits)."""
    match = _RECORD_NUMBER.fullmatch(text.strip())
    return int(match.group(1)) or None if match else None
