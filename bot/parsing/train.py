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
import sys
from datetime import datetime
from pathlib import Path

from bot.clock import SHANGHAI
from bot.message import normalise_text
from bot.parsing import parser as parser_module
from bot.parsing.model import MODEL_PATH, Model, NaiveBayes, features, kind_feature
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


def report_features(parser: ReportParser, text: str) -> set[str]:
    """The features the parser scores at run time: those of the body after the trigger."""
    result = parser.parse(text, NOW)
    body = result.body if result.is_report and not result.is_chain else normalise_text(text)
    return features(body, parser.tokens(body))


def vocabulary_documents(parser: ReportParser, vocabulary: Vocabulary) -> tuple[list[Document], list[Document]]:
    categories = [
        (features(str(word), parser.tokens(str(word))), category.code, VOCABULARY_WEIGHT)
        for category in vocabulary.categories for word in sorted(category.words)
    ]
    kinds = [
        (features(word, parser.tokens(word)), kind, VOCABULARY_WEIGHT)
        for kind, words in (("family", vocabulary.household_words), ("building", vocabulary.building_part_words),
                            ("area", vocabulary.area_words))
        for word in sorted(words)
    ]
    return categories, kinds


def train(parser: ReportParser, vocabulary: Vocabulary, entries: list[dict]) -> Model:
    reports = [entry for entry in entries if entry["is_report"] and entry["category"] and entry["kind"]]
    found = [report_features(parser, entry["text"]) for entry in reports]
    category_docs, kind_docs = vocabulary_documents(parser, vocabulary)
    category_docs += [(f, entry["category"][0], 1.0) for f, entry in zip(found, reports)]
    kind_docs += [(f | {kind_feature(entry["category"][0])}, entry["kind"], 1.0) for f, entry in zip(found, reports)]
    codes = [category.code for category in vocabulary.categories]
    return Model(NaiveBayes.train(category_docs, codes), NaiveBayes.train(kind_docs, KINDS))


def cross_validate(vocabulary: Vocabulary, entries: list[dict], folds: int = 5) -> None:
    """Accuracy of category and kind on held-out folds of the train split, for each rule bonus:
    how CATEGORY_RULE_BONUS and KIND_RULE_BONUS in parser.py were chosen."""
    plain = ReportParser(vocabulary, model=None)
    settings = [(None, None, 0.5, 0.0), (20.0, 10.0, 0.5, 3.0), (20.0, 6.0, 0.5, 6.0), (20.0, 20.0, 0.5, 3.0),
                (10.0, 6.0, 0.5, 3.0), (20.0, 10.0, 0.3, 3.0), (20.0, 10.0, 0.7, 3.0)]
    right = {setting: [0, 0] for setting in settings}
    chosen = (parser_module.CATEGORY_RULE_BONUS, parser_module.KIND_RULE_BONUS, parser_module.OTHER_BELOW,
              parser_module.KIND_HINT_BONUS)
    total = 0
    for fold in range(folds):
        held = [e for i, e in enumerate(entries) if i % folds == fold]
        model = train(plain, vocabulary, [e for i, e in enumerate(entries) if i % folds != fold])
        for setting in settings:
            category_bonus, kind_bonus, other_below, hint_bonus = setting
            parser = ReportParser.__new__(ReportParser)
            parser.__dict__.update(plain.__dict__)
            parser.model = None if category_bonus is None else model
            parser_module.CATEGORY_RULE_BONUS = category_bonus or 0.0
            parser_module.KIND_RULE_BONUS = kind_bonus or 0.0
            parser_module.OTHER_BELOW = other_below
            parser_module.KIND_HINT_BONUS = hint_bonus
            for entry in held:
                if not entry["is_report"] or not entry["category"]:
                    continue
                result = parser.parse(entry["text"], NOW)
                right[setting][0] += result.category in entry["category"]
                right[setting][1] += result.kind == entry["kind"]
        total += sum(1 for e in held if e["is_report"] and e["category"])
    (parser_module.CATEGORY_RULE_BONUS, parser_module.KIND_RULE_BONUS, parser_module.OTHER_BELOW,
     parser_module.KIND_HINT_BONUS) = chosen
    for setting, (category, kind) in right.items():
        name = "rules only" if setting[0] is None else (f"bonus category {setting[0]:g}, kind {setting[1]:g}, "
                                                           f"other<{setting[2]:g}, hint {setting[3]:g}")
        print(f"{name:64} category {category / total:.3f}  kind {kind / total:.3f}  (n={total})")


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cv", action="store_true", help="cross-validate on the train split instead of writing the model")
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
    print(f"trained on {reports} reports of the train split (+ vocabulary words): "
          f"{len(model.category.deltas)} features → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
