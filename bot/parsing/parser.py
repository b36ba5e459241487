"""The report parser: a pure function of (text, now) over the vocabulary.

Normalise (NFKC, control characters, leading @mentions) → find the trigger at the start →
regexes for numbers and places (bot/parsing/fields.py) → jieba tokens, cut with the community
user dictionary, for categories and kind hints.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jieba

from bot.message import normalise_text
from bot.parsing.fields import Fields, extract
from bot.parsing.vocabulary import DATA, Vocabulary

REQUIRED = {"family": ("building", "unit"), "building": ("building",), "area": ()}
MAX_PARSE_CHARS = 2000  # a 50 KB paste is stored whole but parsed from its start only
# A generic trigger must be followed by a separator, a number or a mention of a place: "报告3号楼"
# is a report, "登记表在哪里下载" and "报告一下吗" are not.
_GENERIC_FOLLOWER = re.compile(r"^(?:$|[\s:：,，。】\]#@\d]|[一二三四五六七八九十两]+[号幢栋])")
_CHAIN_LINE = re.compile(r"^\s*(\d{1,3})\s*[.、)）．:：]\s*(.+?)\s*$")
_NAME_IN_LINE = re.compile(r"(?:^|\s)([\u4e00-\u9fff]{1,2}(?:先生|女士|阿姨|师傅|老师|老伯|阿婆|爷爷|奶奶)|[\u4e00-\u9fff]{2,3})(?=\s|$)")


def required_fields(kind: str | None) -> tuple[str, ...]:
    return REQUIRED.get(kind or "", ())


@dataclass
class ParseResult:
    is_report: bool
    kind: str | None = None
    category: str | None = None
    fields: Fields = field(default_factory=Fields)
    missing: list[str] = field(default_factory=list)
    lines: list[ParseResult] | None = None
    is_chain: bool = False
    chain_title: str | None = None
    trigger: str | None = None
    explicit_kind: bool = False
    body: str = ""
    contact_name: str | None = None

    @property
    def line_key(self) -> str:
        return re.sub(r"\s+", " ", self.body).strip()

    def __getattr__(self, name: str) -> object:  # building, unit, … read through to the fields
        if name in Fields.__dataclass_fields__:
            return getattr(self.fields, name)
        raise AttributeError(name)

    def to_json(self) -> dict[str, object]:
        f = self.fields if self.is_report else Fields()
        return {
            "is_report": self.is_report,
            "kind": self.kind if self.is_report else None,
            "category": self.category if self.is_report else None,
            "building": f.building,
            "unit": f.unit,
            "people": f.people,
            "households": f.households,
            "origin": f.origin,
            "date": f.date.isoformat() if f.date else None,
            "missing": list(self.missing),
            "lines": [line.to_json() for line in self.lines] if self.lines is not None else None,
        }


def _cache_dir() -> Path:
    folder = Path(os.environ.get("QINLIN_CACHE_DIR") or Path.home() / ".cache" / "qinlin")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_SHARED: dict[str, ReportParser] = {}


def shared_parser(vocabulary: Vocabulary) -> ReportParser:
    """One parser per distinct vocabulary in a process: a parser is pure once built, and building
    one (a jieba tokenizer with the user dictionary) costs seconds — every bot built in one
    process (tests, replay of many files) shares it."""
    key = repr(vocabulary)
    parser = _SHARED.get(key)
    if parser is None:
        parser = _SHARED[key] = ReportParser(vocabulary)
    return parser


class ReportParser:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.tokenizer = jieba.Tokenizer()
        # jieba's dictionary load is the start-up cost: a cache file makes the second start fast
        self.tokenizer.tmp_dir = str(_cache_dir())
        self.tokenizer.cache_file = "jieba.cache"
        jieba.setLogLevel(logging.WARNING)
        self.tokenizer.initialize()
        with open(DATA / "userdict.txt", "rb") as userdict:  # jieba would leave the file open
            self.tokenizer.load_userdict(userdict)
        for word in vocabulary.all_words():
            self.tokenizer.add_word(word, freq=2000)
        triggers = sorted(vocabulary.kind_triggers, key=len, reverse=True)
        self._trigger = re.compile(
            r"^[#【\[]?\s*(%s)\s*[】\]]?\s*[:,，。\s]?\s*" % "|".join(map(re.escape, triggers))
        )
        self._chain = re.compile(r"^[#【\[]?\s*%s\s*[】\]]?\s*[:,]?\s*" % re.escape(vocabulary.chain_trigger))
        self._category_of: dict[str, str] = {}
        self._category_rank = {c.code: i for i, c in enumerate(vocabulary.categories)}
        for category in vocabulary.categories:
            for word in category.words:
                self._category_of.setdefault(word, category.code)
        # Words of two or more characters also count when jieba cuts them into a longer token
        # ("聚众赌博", "乱停车"); single characters (偷, 臭) count only as whole tokens.
        self._long_words = sorted((w for w in self._category_of if len(w) >= 2), key=len, reverse=True)

    def category_labels(self) -> dict[str, str]:
        return {c.code: c.label for c in self.vocabulary.categories}

    # ------------------------------------------------------------ words

    def _tokens(self, text: str) -> set[str]:
        return set(self.tokenizer.lcut(text, HMM=False))

    def categorise(self, text: str, tokens: set[str] | None = None) -> str:
        tokens = tokens if tokens is not None else self._tokens(text)
        hits = {self._category_of[t] for t in tokens if t in self._category_of}
        # phrases jieba may cut differently ("从外地回来") still count when written out whole
        hits.update(self._category_of[w] for w in self._long_words if w in text)
        if not hits:
            return "other"
        return min(hits, key=lambda code: self._category_rank[code])

    def _infer_kind(self, fields: Fields, category: str, tokens: set[str], text: str) -> str:
        v = self.vocabulary
        if fields.unit:
            return "family"
        if tokens & v.area_words or any(w in text for w in v.area_words if len(w) >= 2):
            return "area"
        if any(w in text for w in v.building_part_words) or (fields.households and not fields.unit):
            return "building"
        if tokens & v.household_words or category in v.household_categories:
            return "family"
        if fields.building:
            return "building"
        return "family"

    # ------------------------------------------------------------ parse

    def parse(self, text: str, now: datetime) -> ParseResult:
        clean = normalise_text(text)[:MAX_PARSE_CHARS]
        chain = self._chain.match(clean)
        if chain:
            return self._parse_chain(clean[chain.end():], now)
        trigger = self._trigger.match(clean)
        if not trigger:
            return ParseResult(is_report=False)
        word = trigger.group(1)
        explicit = self.vocabulary.kind_triggers[word]
        if not explicit and not _GENERIC_FOLLOWER.match(clean[trigger.end(1):]):
            return ParseResult(is_report=False)  # 登记表在哪里下载: a word that starts with a trigger
        body = clean[trigger.end():]
        fields = extract(body, now)
        tokens = self._tokens(body)
        category = "proposal" if word == "建议" else self.categorise(body, tokens)
        kind = explicit or self._infer_kind(fields, category, tokens, body)
        fields.category = category
        missing = [name for name in required_fields(kind) if getattr(fields, name) is None]
        return ParseResult(True, kind, category, fields, missing, trigger=word, explicit_kind=bool(explicit), body=body)

    def _parse_chain(self, rest: str, now: datetime) -> ParseResult:
        title_line, _, remainder = rest.partition("\n")
        numbered = _CHAIN_LINE.match(title_line)
        title = None if numbered else (title_line.strip() or None)
        source = rest if numbered else remainder
        title_category = self.categorise(title) if title else "other"
        lines: list[ParseResult] = []
        for raw_line in source.splitlines():
            match = _CHAIN_LINE.match(raw_line)
            if not match:
                continue
            body = match.group(2)
            fields = extract(body, now)
            category = self.categorise(body)
            if category == "other":
                category = title_category
            fields.category = category
            name = _NAME_IN_LINE.search(re.sub(r"[\d\-号楼室幢栋人户]+", " ", body))
            missing = [n for n in required_fields("family") if getattr(fields, n) is None]
            lines.append(ParseResult(True, "family", category, fields, missing, body=body,
                                     contact_name=name.group(1) if name else None))
        return ParseResult(True, "family", title_category, Fields(category=title_category), [], lines,
                           is_chain=True, chain_title=title, trigger=self.vocabulary.chain_trigger, body=rest)

    def extract_fields(self, text: str, now: datetime) -> Fields:
        clean = normalise_text(text)[:MAX_PARSE_CHARS]
        fields = extract(clean, now)
        category = self.categorise(clean)
        fields.category = None if category == "other" else category
        return fields

    def answer_fields(self, text: str, missing: list[str], now: datetime) -> Fields:
        """A reply to "请补充室号": a bare 302 is the unit; a bare 3 the building."""
        clean = normalise_text(text)[:200]
        fields = extract(clean, now)
        numbers = re.findall(r"\d+", clean)
        if "unit" in missing and "building" in missing and fields.building is None and len(numbers) == 2:
            fields.building, fields.unit = str(int(numbers[0])), str(int(numbers[1]))
        elif "building" in missing and fields.building is None and len(numbers) == 1 and len(numbers[0]) <= 2:
            if fields.unit == numbers[0] or fields.unit is None:
                fields.unit = None
                fields.building = str(int(numbers[0]))
        fields.category = None
        fields.date = None
        return fields
