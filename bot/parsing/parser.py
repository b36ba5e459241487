"""The report parser: a pure function of (text, now) over the vocabulary.

Normalise (NFKC, control characters, leading @mentions) → find the trigger at the start →
regexes for numbers and places (bot/parsing/fields.py) → jieba tokens, cut with the community
user dictionary, for categories and kind hints.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jieba

from bot.message import normalise_text
from bot.parsing.fields import Fields, extract
from bot.parsing.model import Model, features, kind_features, load_model, trigger_feature
from bot.parsing.numerals import to_int
from bot.parsing.vocabulary import DATA, Vocabulary

REQUIRED = {"family": ("building", "unit"), "building": ("building",), "area": ()}
MAX_PARSE_CHARS = 2000  # a 50 KB paste is stored whole but a single report is parsed from its start only
# A 接龙 is parsed whole up to this many lines (WeChat's longest message holds fewer); beyond it the
# reply says how many lines were not read — never a silent cap.
MAX_CHAIN_LINES = 2000
# A generic trigger must be followed by a separator, a number, a place or a word of the vocabulary:
# "报告3号楼" and "求助我家断粮了" are reports, "登记表在哪里下载", "报告一下吗" and "反映了" are not.
_GENERIC_FOLLOWER = re.compile(
    r"^(?:$|[\s:：,，。!！?？、;；~～…】\]）)#@\d]|[一二三四五六七八九十两]+[号幢栋])"
)
_SEPARATORS = re.compile(r"[\s:：,，。!！、;；~～…．.】\]）)#]*")
# Words that open a report body right after a trigger without punctuation (反映我们小区…)
_FOLLOWER_WORDS = ("我", "本楼", "有人", "小区", "楼上", "楼下", "隔壁", "家里", "家中")
# 三零二, 二〇一: a room read out digit by digit
_DIGIT_WORDS = re.compile(r"[零〇一二三四五六七八九两]{2,4}(?![十百千万])")
# What a gist leaves out: what the description already shows (places, counts, origin, dates,
# phones)
_GIST_DROP = re.compile(
    r"1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}"
    r"|(?:联系)?(?:电话|手机|联系方式)[:：]?"
    r"|(?:来自|自|从)[\u4e00-\u9fff]{2,6}?(?:省|市)?(?:返沪|回沪|来沪|到沪|回来|(?=$|\s|[，,。]))"
    r"|(?<![\d.])\d{1,2}月\d{1,2}[日号]?|(?<![\d./])\d{1,2}[./]\d{1,2}(?![\d./])|20\d{2}-\d{1,2}-\d{1,2}"
    r"|今天|昨天|前天|明天|今日|昨日"
    r"|一家[一二三四五六七八九十\d]+口|老两口|[\d一二三四五六七八九十两]+\s*(?:个人|口人|人|位|户)"
    r"|\d+\s*(?:号楼|幢|栋|号)?\s*[-—_]?\s*\d{3,4}\s*(?:室|号房|号|房)?"
    r"|\d+\s*(?:号楼|幢|栋|室|号房)"
    r"|[零〇一二三四五六七八九十两]+\s*(?:号楼|幢|栋)(?:\s*[零〇一二三四五六七八九]{3,4}\s*(?:室|号房|号)?)?"
    r"|[零〇一二三四五六七八九]{3,4}\s*(?:室|号房)"
)
_CHAIN_LINE = re.compile(r"^\s*(\d{1,3})\s*[.、)）．:：]\s*(.+?)\s*$")
_NAME_IN_LINE = re.compile(
    r"(?:^|\s)([\u4e00-\u9fff]{1,2}(?:先生|女士|阿姨|师傅|老师|老伯|阿婆|爷爷|奶奶)|[\u4e00-\u9fff]{2,3})(?=\s|$)"
)


def _posterior(scores: dict[str, float]) -> dict[str, float]:
    """Log scores → log posterior probabilities (comparable with a fixed rule bonus)."""
    top = max(scores.values())
    total = math.log(sum(math.exp(s - top) for s in scores.values())) + top
    return {name: s - total for name, s in scores.items()}


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
    unread_lines: int = 0  # numbered lines of a 接龙 beyond MAX_CHAIN_LINES

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


# How much the rules add to the model's log posterior, chosen by cross-validation on the training
# split (python -m bot.parsing.train --cv). An explicit category word nearly always wins: the model
# then chooses among the categories whose words appear, and reads the message alone only when no
# word is listed. A single listed word is weighed the same way, not taken on trust: 坏了 in a
# message about 流浪狗 that no animal word names, or 摔倒 in one about a dark stairwell, is
# outweighed only when the rest of the message says so e^20 times over (SINGLE_WORD_DECIDES). A place named by the kind word sets (楼道, 车棚, 我家) weighs heavily; the category
# alone (a fever is a household's) only suggests the kind.
CATEGORY_RULE_BONUS = 20.0
SINGLE_WORD_DECIDES = (
    False  # True: one listed word decides without the model (before; CV category 0.854 vs 0.860)
)
KIND_RULE_BONUS = 10.0
KIND_HINT_BONUS = 3.0
# Categories whose words decide alone, before any model: a fever is a health case whatever else
# the message asks for (SPEC §4 priority).
DECISIVE_CATEGORIES = ("health",)
# With no explicit word, the model's best category must have at least this posterior probability,
# else the message is 其他 (其他事情, 一切正常) rather than a guess.
OTHER_BELOW = 0.5
_DEFAULT_MODEL = object()


class _Words:
    """Listed words of two or more characters, found anywhere in a text (also inside a longer jieba
    token): at each position the longest listed word that starts there. A lookup per position and
    word length: a regex alternation of the hundreds of category words tried at every position
    cost ten times as much (94 against 9 µs a message on the real corpus)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(word for word in words if len(word) >= 2)
        lengths: dict[str, set[int]] = {}
        for word in self.words:
            lengths.setdefault(word[0], set()).add(len(word))
        self.lengths = {first: tuple(sorted(sizes, reverse=True)) for first, sizes in lengths.items()}

    def longest_at_each(self, text: str) -> Iterator[str]:
        lengths, words = self.lengths, self.words
        for start, char in enumerate(text):
            for size in lengths.get(char, ()):
                if text[start : start + size] in words:
                    yield text[start : start + size]
                    break


class ReportParser:
    def __init__(self, vocabulary: Vocabulary, model: Model | object | None = _DEFAULT_MODEL) -> None:
        self.vocabulary = vocabulary
        self.model: Model | None = load_model() if model is _DEFAULT_MODEL else model  # type: ignore[assignment]
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

        def alternatives(words: object) -> str:
            return "|".join(map(re.escape, sorted(words, key=len, reverse=True)))  # type: ignore[call-overload]

        # 您好，紧急求助！ / 【求助】 / 反映一下， / 报修: — lead words, brackets and fillers around a trigger
        lead = alternatives(vocabulary.trigger_lead)
        fillers = alternatives(vocabulary.trigger_fillers)
        triggers = alternatives(vocabulary.kind_triggers)
        self._trigger = re.compile(
            (rf"^(?:(?:{lead})[\s,，!！。:：~～]*){{0,3}}" if lead else "^")
            + rf"[#【\[（(]?\s*({triggers})(?:\s*[】\]）)#])?"
            + (rf"(?:{fillers})?" if fillers else "")
        )
        self._opening_words = tuple(
            sorted(vocabulary.all_words() - set(vocabulary.kind_triggers), key=len, reverse=True)
        )
        self._opening_words += _FOLLOWER_WORDS
        self._word_sets = {
            name: (frozenset(words), re.compile(alternatives([w for w in words if len(w) >= 2]) or "(?!)"))
            for name, words in (
                ("household", vocabulary.household_words),
                ("building", vocabulary.building_part_words),
                ("area", vocabulary.area_words),
                ("weak_area", vocabulary.weak_area_words),
                ("estate_wide", vocabulary.estate_wide_words),
                ("count", vocabulary.building_count_words),
            )
        }
        self._chain = re.compile(r"^[#【\[]?\s*%s\s*[】\]]?\s*[:,]?\s*" % re.escape(vocabulary.chain_trigger))
        self._category_of: dict[str, str] = {}
        self._category_rank = {c.code: i for i, c in enumerate(vocabulary.categories)}
        for category in vocabulary.categories:
            for word in category.words:
                self._category_of.setdefault(word, category.code)
        # Words of two or more characters also count when jieba cuts them into a longer token
        # ("聚众赌博", "乱停车"); single characters (偷, 臭) count only as whole tokens.
        self._long_words = _Words(self._category_of)

    def category_labels(self) -> dict[str, str]:
        return self.vocabulary.category_labels()

    # ------------------------------------------------------------ words

    def tokens(self, text: str) -> set[str]:
        """jieba words of ``text`` (no HMM: new words come from the user dictionary, not guesses)."""
        return set(self.tokenizer.lcut(text, HMM=False))

    def category_hits(self, text: str, tokens: set[str], origin: str | None = None) -> set[str]:
        """Categories whose explicit words the text contains."""
        hits = {self._category_of[t] for t in tokens if t in self._category_of}
        # phrases jieba may cut differently ("从外地回来") still count when written out whole
        hits.update(self._category_of[word] for word in self._long_words.longest_at_each(text))
        if origin and "return" in self._category_rank:  # 从湖北回来: a place one came back from
            hits.add("return")
        return hits

    def categorise(
        self,
        text: str,
        tokens: set[str] | None = None,
        origin: str | None = None,
        use_model: bool = True,
        found: set[str] | None = None,
    ) -> str:
        """The category: a decisive word (health) first; then the model's reading of the whole
        message with the explicit words added as evidence; without a model, the first listed
        category whose words appear."""
        tokens = tokens if tokens is not None else self.tokens(text)
        hits = self.category_hits(text, tokens, origin)
        decisive = [code for code in DECISIVE_CATEGORIES if code in hits]
        if decisive:
            return decisive[0]
        if (
            self.model is None
            or not use_model
            or not text.strip()
            or (SINGLE_WORD_DECIDES and len(hits) == 1)
        ):
            return min(hits, key=lambda code: self._category_rank[code]) if hits else "other"
        scores = _posterior(
            self.model.category.scores(found if found is not None else features(text, tokens))
        )
        if not hits and math.exp(max(scores.values())) < OTHER_BELOW:
            return "other"  # nothing named and the model unsure: 其他, for a person to read
        floor = min(scores.values())
        best = max(
            self._category_rank,
            key=lambda code: (
                scores.get(code, floor) + (CATEGORY_RULE_BONUS if code in hits else 0.0),
                -self._category_rank[code],
            ),
        )
        return best

    def _mentions(self, name: str, tokens: set[str], text: str) -> bool:
        words, long_words = self._word_sets[name]
        return bool(tokens & words) or long_words.search(text) is not None

    def word_sets(self, tokens: set[str], text: str) -> frozenset[str]:
        """The kind word sets (household, building, area, …) whose words the text contains."""
        return frozenset(name for name in self._word_sets if self._mentions(name, tokens, text))

    def _kind_rules(self, fields: Fields, category: str, named: frozenset[str]) -> tuple[str, str]:
        """What the message is about, by rules: (kind, strength) — "decisive" for a room or a
        building count, "word" when a word set names the place (楼道, 车棚, 我家), "hint" when only
        the category or a bare building number suggests it, "none" when nothing does.
        ``named``: the word sets the message mentions."""
        v = self.vocabulary
        if fields.unit:
            return "family", "decisive"
        household = "household" in named
        if fields.building and not household and (fields.households or (fields.people and "count" in named)):
            return "building", "decisive"  # a leader's count for the whole building
        for name, kind in (
            ("estate_wide", "area"),
            ("building", "building"),
            ("area", "area"),
            ("household", "family"),
        ):
            if name in named:
                return kind, "word"
        if fields.building:
            return "building", "word"  # 12号楼有群租: a building named and no household
        if category in v.household_categories:
            return "family", "hint"
        if category in v.area_categories:
            return "area", "hint"
        if "weak_area" in named:
            return "area", "hint"
        return "family", "none"

    def kind_features(
        self, fields: Fields, category: str, tokens: set[str], text: str, found: set[str]
    ) -> set[str]:
        """What the kind model reads: the message's features and what the rules make of it."""
        named = self.word_sets(tokens, text)
        return found | kind_features(category, *self._kind_rules(fields, category, named), named)

    def _infer_kind(self, fields: Fields, category: str, tokens: set[str], text: str, found: set[str]) -> str:
        """A room or a building count decides; otherwise the model reads the message (its
        category, the rules' reading, the place words), with a place named by the word sets as
        strong evidence."""
        named = self.word_sets(tokens, text)
        kind, strength = self._kind_rules(fields, category, named)
        if strength == "decisive" or self.model is None or not text.strip():
            return kind
        scores = _posterior(self.model.kind.scores(found | kind_features(category, kind, strength, named)))
        bonus = {"word": KIND_RULE_BONUS, "hint": KIND_HINT_BONUS}.get(strength, 0.0)
        scores[kind] = scores.get(kind, min(scores.values())) + bonus
        return max(("family", "building", "area"), key=lambda k: scores.get(k, float("-inf")))

    def _trigger_match(self, clean: str) -> tuple[str, str] | None:
        """The trigger word and the body after it, or None when the message is not a report."""
        trigger = self._trigger.match(clean)
        if not trigger:
            return None
        word = trigger.group(1)
        after = clean[trigger.end() :]
        bracketed = trigger.group(0).rstrip().endswith(("】", "]", "）", ")", "#"))  # 【求助】每次下雨…
        if not self.vocabulary.kind_triggers[word] and not (
            bracketed or _GENERIC_FOLLOWER.match(after) or after.startswith(self._opening_words)
        ):
            return None  # 登记表在哪里下载, 反映了: a word that starts with a trigger
        return word, after[_SEPARATORS.match(after).end() :]  # type: ignore[union-attr]

    # ------------------------------------------------------------ parse

    def parse(self, text: str, now: datetime) -> ParseResult:
        whole = normalise_text(text)
        chain = self._chain.match(whole)
        if chain:
            return self._parse_chain(whole[chain.end() :], now)
        clean = whole[:MAX_PARSE_CHARS]
        triggered = self._trigger_match(clean)
        if triggered is None:
            return ParseResult(is_report=False)
        word, body = triggered
        explicit = self.vocabulary.kind_triggers[word]
        fields = extract(body, now)
        tokens = self.tokens(body)
        found = features(body, tokens) | {trigger_feature(word)}
        category = "proposal" if word == "建议" else self.categorise(body, tokens, fields.origin, found=found)
        kind = explicit or self._infer_kind(fields, category, tokens, body, found)
        fields.category = category
        missing = [name for name in required_fields(kind) if getattr(fields, name) is None]
        return ParseResult(
            True, kind, category, fields, missing, trigger=word, explicit_kind=bool(explicit), body=body
        )

    def _parse_chain(self, rest: str, now: datetime) -> ParseResult:
        title_line, _, remainder = rest.partition("\n")
        numbered = _CHAIN_LINE.match(title_line)
        title = None if numbered else (title_line.strip() or None)
        source = rest if numbered else remainder
        # a chain line says little beyond its numbers: its own words, else the title's category
        title_category = self.categorise(title, use_model=False) if title else "other"
        lines: list[ParseResult] = []
        unread = 0
        for raw_line in source.splitlines():
            match = _CHAIN_LINE.match(raw_line)
            if not match:
                continue
            if len(lines) >= MAX_CHAIN_LINES:
                unread += 1
                continue
            body = match.group(2)
            fields = extract(body, now)
            category = self.categorise(body, use_model=False)
            if category == "other":
                category = title_category
            fields.category = category
            name = _NAME_IN_LINE.search(re.sub(r"[\d\-号楼室幢栋人户]+", " ", body))
            missing = [n for n in required_fields("family") if getattr(fields, n) is None]
            lines.append(
                ParseResult(
                    True,
                    "family",
                    category,
                    fields,
                    missing,
                    body=body,
                    contact_name=name.group(1) if name else None,
                )
            )
        return ParseResult(
            True,
            "family",
            title_category,
            Fields(category=title_category),
            [],
            lines,
            is_chain=True,
            chain_title=title,
            trigger=self.vocabulary.chain_trigger,
            body=rest,
            unread_lines=unread,
        )

    def extract_fields(self, text: str, now: datetime) -> Fields:
        clean = normalise_text(text)[:MAX_PARSE_CHARS]
        fields = extract(clean, now)
        # 更正 7 健康异常 / 更正 7 发烧: a category named by its label, its code or one of its words
        named = [self.category_of_word(word) for word in re.split(r"[\s,，、]+", clean) if word]
        category = next((code for code in named if code), None) or self.categorise(clean, use_model=False)
        fields.category = None if category == "other" else category
        return fields

    def kind_named(self, text: str) -> str | None:
        """更正 7 片区报告: the kind an explicit kind trigger (家庭报告, 楼组报告, 片区报告 …) names."""
        clean = normalise_text(text)
        for word in sorted(self.vocabulary.kind_triggers, key=len, reverse=True):
            kind = self.vocabulary.kind_triggers[word]
            if kind and word in clean:
                return kind
        return None

    def category_of_word(self, word: str) -> str | None:
        """The category a staff member or resident means by one word: its code, its label (返沪登记)
        or any of its vocabulary words (返沪, 发烧) — None when the word names none."""
        word = normalise_text(word)
        for category in self.vocabulary.categories:
            if word in (category.code, category.label):
                return category.code
        return self._category_of.get(word)

    def gist(self, text: str, category: str | None = None, limit: int = 16) -> str:
        """A few of the resident's own words, for a confirmation or a list line: the message
        without its trigger and without what the description already shows (place, people,
        origin, date, phone), cut to ``limit`` characters. Empty when nothing is left but the
        category's own name (登记 3号楼201 返沪2人 → "")."""
        clean = normalise_text(text)[:MAX_PARSE_CHARS]
        found = self._trigger_match(clean)
        body = found[1] if found else clean
        body = _GIST_DROP.sub(" ", body)
        body = re.sub(r"^[\s\W_]+|[\s\W_]+$", "", re.sub(r"\s+", " ", body))
        body = re.sub(r"\s*[，,。；;！!？?]+\s*", "，", body).strip("，")
        label = next((c.label for c in self.vocabulary.categories if c.code == category), "")
        if len(body) <= 1 or (label and body in label):
            return ""
        return body if len(body) <= limit else body[: limit - 1] + "…"

    def answer_fields(self, text: str, missing: list[str], now: datetime) -> Fields:
        """A reply to "请补充室号": a bare 302 is the unit; a bare 3 the building; 三零二 and
        我家是302 too."""
        clean = _DIGIT_WORDS.sub(lambda m: str(to_int(m.group(0))), normalise_text(text)[:200])
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
