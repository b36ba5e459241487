"""What generalises beyond the word lists: a naive Bayes model over words and character bigrams.

The explicit words of vocabulary.yaml say what residents are known to write; real messages say the
same things in words nobody listed (管道井往外流水, 大米吃完了). A multinomial naive Bayes model,
trained from the labelled real messages by ``python -m bot.parsing.train``, scores every category
and kind from the words jieba cuts and from character bigrams, so an unseen phrase that shares
characters with seen ones (漏到 / 漏水, 断奶 / 断粮) still counts. The parser adds its rules to
these scores (bot/parsing/parser.py). Plain Python at run time: the model is a JSON file of weights.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.parsing.vocabulary import DATA

MODEL_PATH = DATA / "model.json"
_LANE = 32  # bits per class in a feature's packed weights (NaiveBayes._rows)
_LANE_MASK = (1 << _LANE) - 1
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def features(text: str, tokens: Iterable[str]) -> set[str]:
    """Words (w:) and character bigrams (b:) of a message, each counted once: a short message
    says a thing once, and repeating 漏 ten times should not make it ten times a repair."""
    found = {"w:" + token for token in tokens if _WORD.search(token)}
    for run in _CJK_RUN.findall(text):
        found.update("b:" + run[i : i + 2] for i in range(len(run) - 1))
    return found


def trigger_feature(trigger: str | None) -> str:
    """The word a resident put in front says something too: 报修 is more often a building's or a
    household's, 举报 the estate's (cross-validation on the train split: category and kind both gain)."""
    return "g:" + (trigger or "")


def kind_features(category: str, rule_kind: str, strength: str, word_sets: Iterable[str]) -> set[str]:
    """For the kind, what the message is about counts too: its category (a dog is the estate's, a
    fever a household's), the rules' reading and how sure it is, and which place words it names
    (楼道 and 我家 together are more often a building's than 我家 alone)."""
    return {
        "c:" + category,
        "r:" + rule_kind,
        f"r:{rule_kind}:{strength}",
        *("s:" + name for name in word_sets),
    }


@dataclass(frozen=True)
class NaiveBayes:
    """log P(class) + Σ log P(feature | class) over the features the model knows, with additive
    smoothing. Stored sparsely: a known feature adds ``default`` to every class plus, for the
    classes it was seen with, ``log((count + α) / α)`` — so scoring touches only those classes."""

    classes: tuple[str, ...]
    prior: tuple[float, ...]
    default: tuple[float, ...]  # log P(unseen feature | class)
    deltas: dict[str, tuple[tuple[int, float], ...]]  # feature → ((class index, extra log weight), …)

    def __post_init__(self) -> None:
        # At run time a known feature's extra weights for all classes are one integer, each class
        # a 32-bit lane of weight × 1000 (the weights are stored to three decimals, so this is
        # exact): a message's scores are then one sum of integers, done in C, instead of a Python
        # loop over features and classes — parse must stay within twice the cost of segmentation.
        # A lane cannot overflow: a weight is below 2^13 thousandths (log(count/α) < 8) and a
        # message of MAX_PARSE_CHARS has fewer than 2^13 features.
        rows = {
            feature: sum(round(weight * 1000) << (_LANE * index) for index, weight in seen)
            for feature, seen in self.deltas.items()
        }
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(
            self, "_known", frozenset(rows)
        )  # set & set walks the smaller one; dict keys & set copies every key

    def scores(self, found: Iterable[str]) -> dict[str, float]:
        rows: dict[str, int] = self._rows  # type: ignore[attr-defined]
        known = self._known.intersection(found)  # type: ignore[attr-defined]
        total = sum(map(rows.__getitem__, known))
        return {
            name: prior + len(known) * default + ((total >> (_LANE * index)) & _LANE_MASK) / 1000
            for index, (name, prior, default) in enumerate(zip(self.classes, self.prior, self.default))
        }

    @classmethod
    def train(
        cls, documents: list[tuple[set[str], str, float]], classes: list[str], alpha: float = 0.3
    ) -> NaiveBayes:
        """``documents``: (features, class, weight) — the weight lets a vocabulary word count as
        more or less than one real message."""
        index = {name: i for i, name in enumerate(classes)}
        counts: dict[str, dict[int, float]] = {}
        class_docs = [0.0] * len(classes)
        class_total = [0.0] * len(classes)
        for found, label, weight in documents:
            i = index[label]
            class_docs[i] += weight
            for feature in found:
                per_class = counts.setdefault(feature, {})
                per_class[i] = per_class.get(i, 0.0) + weight
                class_total[i] += weight
        vocabulary_size = len(counts) or 1
        docs = sum(class_docs) or 1.0
        # a class with no document still gets a small prior, so a new category can be predicted
        # from its vocabulary words alone
        prior = tuple(
            round(math.log((class_docs[i] + 1) / (docs + len(classes))), 4) for i in range(len(classes))
        )
        default = tuple(
            round(math.log(alpha / (class_total[i] + alpha * vocabulary_size)), 4)
            for i in range(len(classes))
        )
        deltas = {
            feature: tuple(
                (i, round(math.log((count + alpha) / alpha), 3)) for i, count in sorted(per_class.items())
            )
            for feature, per_class in sorted(counts.items())
        }
        return cls(tuple(classes), prior, default, deltas)

    def as_json(self) -> dict[str, object]:
        return {
            "classes": list(self.classes),
            "prior": list(self.prior),
            "default": list(self.default),
            # feature → [class index, weight, class index, weight, …]
            "weights": {feature: [x for pair in seen for x in pair] for feature, seen in self.deltas.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> NaiveBayes:
        weights = data["weights"]
        assert isinstance(weights, dict)
        return cls(
            tuple(data["classes"]),  # type: ignore[arg-type]
            tuple(data["prior"]),  # type: ignore[arg-type]
            tuple(data["default"]),  # type: ignore[arg-type]
            {feature: tuple(zip(flat[::2], flat[1::2])) for feature, flat in weights.items()},
        )


@dataclass(frozen=True)
class Model:
    category: NaiveBayes
    kind: NaiveBayes

    def save(self, path: Path = MODEL_PATH) -> None:
        data = {"category": self.category.as_json(), "kind": self.kind.as_json()}
        path.write_text(
            json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
            encoding="utf-8",
        )


def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The trained model, or None when the file is absent (the parser then uses its rules alone)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Model(NaiveBayes.from_json(data["category"]), NaiveBayes.from_json(data["kind"]))
