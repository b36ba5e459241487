"""Train the category and kind model from the TRAIN split of the real-message corpus.

    python -m bot.parsing.train          # writes bot/data/model.json
    python -m bot.parsing.train --cv     # 5-fold cross-validation on the train split, writes nothing

Deterministic: the same corpus and vocabulary give the same file, byte for byte. The dev split is
never read here — it is what tests/parser/real/score.py measures the parser on. Each labelled
report is a document of its preferred category and its kind; each explicit word of the vocabulary
is a small extra document of its category (and the kind word sets of their kind), so the model
knows every listed word even where the corpus never used it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import datetime
from pathlib import Path

from bot.clock import SHANGHAI
from bot.message import normalise_text
from bot.parsing import parser as parser_module
from bot.parsing.model import MODEL_PATH, Model, NaiveBayes, features, trigger_feature
from bot.parsing.parser import ReportParser
from bot.parsing.vocabulary import Vocabulary, load_vocabulary

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=SHANGHAI)
VOCABULARY_WEIGHT = 6.0  # a listed word is strong evidence: cross-validation on the train split favours 4-8
KINDS = ["family", "building", "area"]
Document = tuple[set[str], str, float]


def load_train() -> list[dict]:
    """The corpus entries of the train split (the corpus lives with the tests, not in the package)."""
    sys.path.insert(0, str(ROOT))
    from tests.parser.real.corpus import load_corpus, split_of

    return [entry for entry in load_corpus() if split_of(entry["text"]) == "train"]


def report_features(parser: ReportParser, entry: dict) -> tuple[set[str], set[str]]:
    """The features the parser scores at run time, for the category and for the kind: those of
    the body after the trigger, the trigger, and for the kind what the rules read in the body
    given the labelled category."""
    result = parser.parse(entry["text"], NOW)
    body = result.body if result.is_report and not result.is_chain else normalise_text(entry["text"])
    tokens = parser.tokens(body)
    found = features(body, tokens) | {trigger_feature(result.trigger)}
    return found, parser.kind_features(result.fields, entry["category"][0], tokens, body, found)


def vocabulary_documents(
    parser: ReportParser, vocabulary: Vocabulary
) -> tuple[list[Document], list[Document]]:
    categories = [
        (features(str(word), parser.tokens(str(word))), category.code, VOCABULARY_WEIGHT)
        for category in vocabulary.categories
        for word in sorted(category.words)
    ]
    kinds = [
        (features(word, parser.tokens(word)) | {"s:" + word_set}, kind, VOCABULARY_WEIGHT)
        for kind, word_set, words in (
            ("family", "household", vocabulary.household_words),
            ("building", "building", vocabulary.building_part_words),
            ("area", "area", vocabulary.area_words),
        )
        for word in sorted(words)
    ]
    return categories, kinds


def train(
    parser: ReportParser, vocabulary: Vocabulary, entries: list[dict], drop: tuple[str, ...] = ()
) -> Model:
    """``drop``: feature prefixes to leave out (for cross-validation: a model that never saw a
    feature ignores it at run time, so this measures the parser without it)."""
    reports = [entry for entry in entries if entry["is_report"] and entry["category"] and entry["kind"]]
    found = [report_features(parser, entry) for entry in reports]
    category_docs, kind_docs = vocabulary_documents(parser, vocabulary)
    category_docs += [(category, entry["category"][0], 1.0) for (category, _), entry in zip(found, reports)]
    kind_docs += [(kind, entry["kind"], 1.0) for (_, kind), entry in zip(found, reports)]
    if drop:
        category_docs = [
            ({f for f in found if not f.startswith(drop)}, label, weight)
            for found, label, weight in category_docs
        ]
        kind_docs = [
            ({f for f in found if not f.startswith(drop)}, label, weight)
            for found, label, weight in kind_docs
        ]
    codes = [category.code for category in vocabulary.categories]
    return Model(NaiveBayes.train(category_docs, codes), NaiveBayes.train(kind_docs, KINDS))


def fold_of(entry: dict, folds: int) -> int:
    """Folds by source, not by message: sentences of one article share words and labels, and the
    parser is meant for messages from sources it has never seen — a fold by message would let
    an article's other sentences vouch for it."""
    source = entry["source"].split(" (")[0]
    return int(hashlib.sha1(source.encode("utf-8")).hexdigest(), 16) % folds


# (label, feature prefixes left out, CATEGORY_RULE_BONUS, KIND_RULE_BONUS, OTHER_BELOW, KIND_HINT_BONUS,
# SINGLE_WORD_DECIDES); the first line is the rules alone, the second what the parser ships with
SETTINGS: list[tuple[str, tuple[str, ...], float | None, float, float, float, bool]] = [
    ("rules only", (), None, 0.0, 0.5, 0.0, True),
    ("model as shipped", (), 20.0, 10.0, 0.5, 3.0, False),
    ("a single listed word decides alone", (), 20.0, 10.0, 0.5, 3.0, True),
    ("category bonus 12", (), 12.0, 10.0, 0.5, 3.0, False),
    ("category bonus 30", (), 30.0, 10.0, 0.5, 3.0, False),
    ("without the trigger (g:)", ("g:",), 20.0, 10.0, 0.5, 3.0, False),
    ("without the rules' kind and word sets (r:, s:)", ("r:", "s:"), 20.0, 10.0, 0.5, 3.0, False),
    (
        "words and bigrams only, a single word decides (before)",
        ("g:", "r:", "s:"),
        20.0,
        10.0,
        0.5,
        3.0,
        True,
    ),
    ("kind bonus 6, hint 3", (), 20.0, 6.0, 0.5, 3.0, False),
    ("kind bonus 20, hint 3", (), 20.0, 20.0, 0.5, 3.0, False),
    ("kind bonus 10, hint 1", (), 20.0, 10.0, 0.5, 1.0, False),
    ("kind bonus 10, hint 6", (), 20.0, 10.0, 0.5, 6.0, False),
    ("category bonus 10", (), 10.0, 10.0, 0.5, 3.0, False),
    ("other below 0.3", (), 20.0, 10.0, 0.3, 3.0, False),
    ("other below 0.7", (), 20.0, 10.0, 0.7, 3.0, False),
]


def cross_validate(vocabulary: Vocabulary, entries: list[dict], folds: int = 5) -> None:
    """Accuracy of category and kind on held-out folds of the train split, for each setting: how
    the features and the rule bonuses in parser.py were chosen."""
    plain = ReportParser(vocabulary, model=None)
    right = {name: [0, 0] for name, *_ in SETTINGS}
    chosen = (
        parser_module.CATEGORY_RULE_BONUS,
        parser_module.KIND_RULE_BONUS,
        parser_module.OTHER_BELOW,
        parser_module.KIND_HINT_BONUS,
        parser_module.SINGLE_WORD_DECIDES,
    )
    total = 0
    try:
        for fold in range(folds):
            held = [e for e in entries if fold_of(e, folds) == fold and e["is_report"] and e["category"]]
            rest = [e for e in entries if fold_of(e, folds) != fold]
            models = {
                drop: train(plain, vocabulary, rest, drop) for drop in {drop for _, drop, *_ in SETTINGS}
            }
            total += len(held)
            for name, drop, category_bonus, kind_bonus, other_below, hint_bonus, single in SETTINGS:
                parser = ReportParser.__new__(ReportParser)
                parser.__dict__.update(plain.__dict__)
                parser.model = None if category_bonus is None else models[drop]
                parser_module.CATEGORY_RULE_BONUS = category_bonus or 0.0
                parser_module.KIND_RULE_BONUS = kind_bonus
                parser_module.OTHER_BELOW = other_below
                parser_module.KIND_HINT_BONUS = hint_bonus
                parser_module.SINGLE_WORD_DECIDES = single
                for entry in held:
                    result = parser.parse(entry["text"], NOW)
                    right[name][0] += result.category in entry["category"]
                    right[name][1] += result.kind == entry["kind"]
    finally:
        (
            parser_module.CATEGORY_RULE_BONUS,
            parser_module.KIND_RULE_BONUS,
            parser_module.OTHER_BELOW,
            parser_module.KIND_HINT_BONUS,
            parser_module.SINGLE_WORD_DECIDES,
        ) = chosen
    print(f"{folds}-fold cross-validation on the train split, folds by source")
    for name, (category, kind) in right.items():
        print(f"{name:56} category {category / total:.3f}  kind {kind / total:.3f}  (n={total})")


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument(
        "--cv", action="store_true", help="cross-validate on the train split instead of writing the model"
    )
    options.add_argument("--out", type=Path, default=MODEL_PATH)
    args = options.parse_args(argv)
    vocabulary = load_vocabulary()
    entries = load_train()
    if args.cv:
        cross_validate(vocabulary, entries)
        return 0
    model = train(ReportParser(vocabulary, model=None), vocabulary, entries)
    model.save(args.out)
    reports = sum(1 for e in entries if e["is_report"])
    print(
        f"trained on {reports} reports of the train split (+ vocabulary words): "
        f"{len(model.category.deltas)} features → {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
