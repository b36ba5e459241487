"""Statements per message, counted, held to the budget written in docs/design.md ("Statements
per message"). Counts, not times: a change that adds a query to every message fails here on any
machine. Everything the database is sent counts — BEGIN, savepoints, the sends a message causes
and the clock stepping between messages — so the figures are what a busy day pays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.conftest import bind_privileged_people

# per message, amortised over a run of such messages with everything they cause sent
BUDGET = {
    "chatter": 3,
    "收到": 9,
    "report": 17,  # the repeat check, the report, its confirmation queued, sent and recorded
    "over the limit": 3,  # a sender's report past limits.per_contact_per_minute: kept, not acted on
}


@contextmanager
def counted(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def config(shipped_config, tmp_path):
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


@pytest.fixture
def estate(chat):
    """Ten building rooms the bot has seen and a live notice, so 收到 counts."""
    for building in range(1, 11):
        chat.say(f"江南新村{building}号楼", "钱组长", "大家好")
    chat.say("居委工作群", "王社工", "#通知 全体 明天上午停水")
    chat.wait(minutes=5)
    relayed = {d.room_topic for d in chat.delivered if "明天上午停水" in d.text}
    assert {f"江南新村{building}号楼" for building in range(1, 11)} <= relayed  # else 收到 would be chatter
    return chat


def per_message(engine, chat, lines: list[tuple[int, str, str]]) -> float:
    with counted(engine) as statements:
        for building, person, text in lines:
            chat.feed(chat.message(text, person, f"江南新村{building}号楼"))
            chat.wait(seconds=30)
        chat.drain()
    return len(statements) / len(lines)


def test_chatter_costs_at_most_its_budget(estate, engine) -> None:
    lines = [(n % 10 + 1, f"居民{n}", "今天菜场几点开门？") for n in range(30)]
    assert per_message(engine, estate, lines) <= BUDGET["chatter"]


def test_an_acknowledgement_costs_at_most_its_budget(estate, engine) -> None:
    lines = [(n % 10 + 1, f"居民{n}", "收到") for n in range(30)]
    cost = per_message(engine, estate, lines)
    receipt = estate.say("居委工作群", "王社工", "/回执 N1")
    assert "30 人确认" in receipt[0].text  # each 收到 counted: what was measured is an acknowledgement
    assert cost <= BUDGET["收到"]


def test_a_report_with_its_confirmation_sent_costs_at_most_its_budget(estate, engine) -> None:
    lines = [
        (n % 10 + 1, f"居民{n}", f"#家庭报告 {n % 10 + 1}号楼{n % 6 + 1}0{n % 4 + 1}室 返沪2人 来自武汉")
        for n in range(20)
    ]
    before = len(estate.delivered)
    cost = per_message(engine, estate, lines)
    assert len(estate.delivered) - before == len(lines)  # each report was confirmed: the sends are counted
    assert cost <= BUDGET["report"]


def test_stepping_the_clock_between_messages_asks_nothing(estate, engine) -> None:
    """What is due is known (bot/memo.py): an hour of the clock with nothing happening is free."""
    estate.wait(minutes=1)
    with counted(engine) as statements:
        for _ in range(60):
            estate.wait(minutes=1)
    assert statements == []


def test_a_message_over_the_senders_limit_costs_no_more_than_chatter_and_its_keeping(estate, engine) -> None:
    """A flood is kept as seen (one insert) and otherwise not acted on: no report, no answer.
    Counted within the minute the sender went over (the answers it earned before are not)."""
    limit = estate.bot.services.config.limits.per_contact_per_minute
    flood = "#家庭报告 3号楼201 返沪1人"
    for _ in range(limit + 1):  # over the limit, told once
        estate.feed(estate.message(flood, "刷屏者", "江南新村3号楼"))
    estate.advance_to(estate.clock.now())  # what may go out now has gone; the next send is seconds away
    with counted(engine) as statements:
        for _ in range(30):
            estate.feed(estate.message(flood, "刷屏者", "江南新村3号楼"))
    assert len(statements) / 30 <= BUDGET["over the limit"]
