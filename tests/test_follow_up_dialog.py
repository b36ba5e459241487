"""The follow-up question as one explicit state: each step of the dialog through chat, and the
matchers handing their handlers typed matches instead of leaving data on the context."""

from __future__ import annotations

import dataclasses
import typing

from sqlalchemy import select

from bot.context import Ctx
from bot.message import MessageType
from bot.transports.simulated import Simulation
from handlers import build_router
from storage.models import PendingQuestion, Report

B5 = "江南新村5号楼"


def texts(deliveries) -> list[str]:
    return [d.text for d in deliveries]


def state(chat: Simulation) -> list[tuple[int, str]]:
    """(report, status) of every report, and whether a question is open."""
    with chat.bot.services.factory() as session:
        rows = [(r.id, r.status) for r in session.scalars(select(Report).order_by(Report.id))]
        open_questions = session.scalars(select(PendingQuestion.report_id)).all()
    return rows + [(number, "asked") for number in open_questions]


def test_every_step_of_the_follow_up_dialog(chat: Simulation) -> None:
    # entry: a report without its room opens the question
    assert texts(chat.say(B5, "孙师傅", "登记 新搬来租户"))[0].startswith("已收到 家庭报告 #1，请补充室号")
    assert state(chat) == [(1, "pending"), (1, "asked")]
    # chatter answers nothing and is left alone; the question stays open
    assert chat.say(B5, "孙师傅", "今天菜场几点开门？") == []
    # voice is asked to write
    assert texts(chat.say(B5, "孙师傅", "", type=MessageType.VOICE)) == [
        "抱歉，语音无法登记，请用文字回复，例如 201。"
    ]
    # another person's answer is not an answer
    assert chat.say(B5, "周老师", "302") == []
    # the answer completes the report and closes the question
    assert texts(chat.say(B5, "孙师傅", "302"))[0].startswith("已登记 家庭报告 #1：5号楼302室")
    assert state(chat) == [(1, "open")]
    # 取消 withdraws a report while it is asked about
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    assert texts(chat.say(B5, "孙师傅", "取消")) == ["好的，#2 已取消（记录保留为已撤回）。"]
    assert state(chat) == [(1, "open"), (2, "withdrawn")]
    # timeout: the question lapses, the report is kept incomplete, a late answer is told once
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    chat.wait(minutes=11)
    assert state(chat) == [(1, "open"), (2, "withdrawn"), (3, "incomplete")]
    assert texts(chat.say(B5, "孙师傅", "302"))[0].startswith("#3 的补充已超过10分钟")
    assert chat.say(B5, "孙师傅", "302") == []


def test_the_context_carries_no_memo_for_handlers() -> None:
    assert "memo" not in {f.name for f in dataclasses.fields(Ctx)}


def test_when_routes_hand_their_handler_a_typed_match() -> None:
    """Each non-command route's matcher returns what its handler takes: the argument text for a
    text pattern (the router's own matcher), a frozen dataclass for every other matcher."""
    for route in build_router().routes:
        if route.command is not None:
            continue
        matcher_hints = typing.get_type_hints(route.matcher, localns={"Ctx": Ctx})
        handler_hints = typing.get_type_hints(route.handler, localns={"Ctx": Ctx})
        found = [t for t in typing.get_args(matcher_hints["return"]) if t is not type(None)]
        assert len(found) == 1, (route.name, matcher_hints["return"])
        match_type = found[0]
        pattern = route.matcher.__module__ == "bot.router"
        assert (
            (match_type is str)
            if pattern
            else (dataclasses.is_dataclass(match_type) and match_type.__dataclass_params__.frozen)
        ), (route.name, match_type)  # type: ignore[attr-defined]
        handler_takes = [t for name, t in handler_hints.items() if name != "return"][-1]
        assert handler_takes is match_type, (route.name, handler_takes, match_type)
