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
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def features(text: str, tokens: Iterable[str]) -> set[str]:
    """Words (w:) and character bigrams (b:) of a message, each counted once: a short message
    says a thing once, and repeating 漏 ten times should not make it ten times a repair."""
    found = {"w:" + token for token in tokens if _WORD.search(token)}
    for run in _CJK_RUN.findall(text):
        found.update("b:" + run[i : i + 2] for i in range(len(run) - 1))
    return found


def kind_features(text: str, tokens: Iterable[str], category: str) -> set[str]:
    """For the kind, what the message is about counts too: a dog is the estate's, a fever a household's."""
    return features(text, tokens) | {"c:" + category}


@dataclass(frozen=True)
class NaiveBayes:
    """log P(class) + Σ log P(feature | class), with Laplace smoothing; features the model never
    saw with a class get that class's smoothed default. Unknown features are ignored."""

    classes: tuple[str, ...]
    prior: tuple[float, ...]
    default: tuple[float, ...]
    weights: dict[str, dict[int, float]]  # feature → {class index: log P(feature | class)}

    def scores(self, found: Iterable[str]) -> dict[str, float]:
        totals = list(self.prior)
        for feature in found:
            seen = self.weights.get(feature)
            if seen is None:
                continue
            for index in range(len(totals)):
                totals[index] += seen.get(index, self.default[index])
        return dict(zip(self.classes, totals))

    @classmethod
    def train(cls, documents: list[tuple[set[str], str, float]], classes: list[str], alpha: float = 0.5) -> NaiveBayes:
        """``documents``: (features, class, weight) — a weight below 1 lets a vocabulary word count
        as a smaller piece of evidence than a real message."""
        index = {name: i for i, name in enumerate(classes)}
        counts: dict[str, dict[int, float]] = {}
        class_docs = [0.0] * len(classes)
        class_total = [0.0] * len(classes)
        for found, label, weight in documents:
            i = index[label]
            class_docs[i] += weight
            for feature in found:
                counts.setdefault(feature, {})
                counts[feature][i] = counts[feature].get(i, 0.0) + weight
                class_total[i] += weight
        vocabulary_size = len(counts) or 1
        docs = sum(class_docs) or 1.0
        # a class with no document still gets a small prior, so a new category can be predicted
        # from its vocabulary words alone
        prior = tuple(round(math.log((class_docs[i] + 1) / (docs + len(classes))), 4) for i in range(len(classes)))
        denominators = [class_total[i] + alpha * vocabulary_size for i in range(len(classes))]
        default = tuple(round(math.log(alpha / denominators[i]), 4) for i in range(len(classes)))
        weights = {
            feature: {i: round(math.log((count + alpha) / denominators[i]), 4) for i, count in sorted(per_class.items())}
            for feature, per_class in sorted(counts.items())
        }
        return cls(tuple(classes), prior, default, weights)

    def as_json(self) -> dict[str, object]:
        return {
            "classes": list(self.classes),
            "prior": list(self.prior),
            "default": list(self.default),
            "weights": {feature: {str(i): w for i, w in per_class.items()} for feature, per_class in self.weights.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> NaiveBayes:
        weights = data["weights"]
        assert isinstance(weights, dict)
        return cls(
            tuple(data["classes"]),  # type: ignore[arg-type]
            tuple(data["prior"]),  # type: ignore[arg-type]
            tuple(data["default"]),  # type: ignore[arg-type]
            {feature: {int(i): w for i, w in per_class.items()} for feature, per_class in weights.items()},
        )


@dataclass(frozen=True)
class Model:
    category: NaiveBayes
    kind: NaiveBayes

    def save(self, path: Path = MODEL_PATH) -> None:
        data = {"category": self.category.as_json(), "kind": self.kind.as_json()}
        path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The trained model, or None when the file is absent (the parser then uses its rules alone)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Model(NaiveBayes.from_json(data["category"]), NaiveBayes.from_json(data["kind"]))
