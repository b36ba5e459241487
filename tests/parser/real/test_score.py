"""The parser on real residents' messages it was not trained on (the dev split of corpus.jsonl).

score.py prints the figures; these tests fail when they drop. Structured fields must meet the
targets of the issue. Category and kind are held at the floor they reach today, and a second test
states the targets they do not meet yet — it reports XPASS the day they do.
"""

from __future__ import annotations

import pytest

from bot.parsing import ReportParser, load_vocabulary, shared_parser
from bot.parsing.model import MODEL_PATH, load_model
from bot.parsing.train import load_train, train
from tests.parser.real.score import TARGETS, Score, score

# What category and kind reach on the dev split today: a change that loses ground fails here.
# The dev split grows with the corpus, so a floor is re-read when messages are added: kind fell
# to 0.74 when 106 harder messages joined dev, while on the 185 dev messages it had before it
# rose from 0.79 to 0.82. With the trigger, the rules' kind and the place words as features and
# one listed word weighed by the model: 0.796 and 0.746. With 101 more messages (13 of them dev
# reports, most about a building's equipment and the estate's pipes and trees): 0.804 and 0.737;
# on the 181 dev reports of before, category holds at 0.796 and kind moves by one message (0.740).
# With 127 more (352 dev messages, 208 reports) and four listed words from train errors: 0.798 and
# 0.764; on the 181 dev reports of before, 0.790 and 0.768. With 67 more (370 dev messages, 217
# reports): 0.811 and 0.765; on the 181 dev reports of before, 0.801 and 0.773. With 46 more (384
# dev messages, 227 reports): 0.828 and 0.771; on the 181 dev reports of before, 0.818 and 0.790.
# With 50 more (398 dev messages, 235 reports): 0.834 and 0.779; on the 181, 0.812 and 0.796.
# With 13 more, mostly broken stairs and railings (403 dev messages, 239 reports): 0.833 and
# 0.766: four area messages of dev that also name a building's part (楼道感应灯, 单元门口, 电梯) turned.
FLOOR = {"category": 0.82, "kind": 0.76}


@pytest.fixture(scope="module")
def dev() -> Score:
    return score(shared_parser(load_vocabulary()), "dev")


def test_the_model_ships_with_the_parser() -> None:
    assert load_model() is not None, "bot/data/model.json is missing: run python -m bot.parsing.train"


def test_the_shipped_model_is_what_the_trainer_makes_of_the_corpus_and_vocabulary(tmp_path) -> None:
    """A word added to the vocabulary or a message to the corpus changes the model: the shipped
    file must be retrained with them, or the parser scores with weights of another corpus."""
    vocabulary = load_vocabulary()
    fresh = tmp_path / "model.json"
    train(ReportParser(vocabulary, model=None), vocabulary, load_train()).save(fresh)
    assert fresh.read_bytes() == MODEL_PATH.read_bytes(), (
        "bot/data/model.json is stale: run python -m bot.parsing.train"
    )


@pytest.mark.parametrize("name", ["is_report", "building", "unit", "people"])
def test_fields_reach_their_targets_on_the_dev_split(dev: Score, name: str) -> None:
    assert dev.accuracy(name) >= TARGETS[name], f"{name}: {dev.accuracy(name):.3f} < {TARGETS[name]}"


@pytest.mark.parametrize("name", ["category", "kind"])
def test_category_and_kind_hold_their_ground_on_the_dev_split(dev: Score, name: str) -> None:
    assert dev.accuracy(name) >= FLOOR[name], f"{name}: {dev.accuracy(name):.3f} < {FLOOR[name]}"


@pytest.mark.xfail(
    reason="category and kind stay below 0.90 on real messages (about 0.83 and 0.77)", strict=False
)
@pytest.mark.parametrize("name", ["category", "kind"])
def test_category_and_kind_reach_their_targets_on_the_dev_split(dev: Score, name: str) -> None:
    assert dev.accuracy(name) >= TARGETS[name], f"{name}: {dev.accuracy(name):.3f} < {TARGETS[name]}"
