"""Per-contact limits (bot/limits.py): a flood from one contact is kept, answered once, and
never delays anyone else's answer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.limits import SLOW_DOWN
from bot.transports.simulated import Simulation
from storage.models import IncomingRecord, Report

FLOOD = "#家庭报告 3号楼201 返沪1人 来自武汉"


def slow_downs(chat: Simulation, contact: str) -> list[str]:
    return [d.text for d in chat.delivered if d.text.startswith("您发得太快了") and contact in d.mention_ids]


def test_a_flood_of_500_from_one_contact_never_delays_another_resident(chat: Simulation) -> None:
    limit = chat.bot.services.config.limits.per_contact_per_minute
    chat.say("江南新村5号楼", "张阿姨", "大家好")
    start = chat.clock.now()
    reported_at = None
    for n in range(500):  # a script: ten messages a second for fifty seconds
        at = start + timedelta(seconds=n / 10)
        chat.feed(chat.message(FLOOD, "刷屏者", "江南新村3号楼", at=at, message_id=f"flood-{n}"))
        if n == 250:
            reported_at = at
            chat.feed(chat.message("#家庭报告 5号楼302 返沪2人 来自安徽", "张阿姨", "江南新村5号楼", at=at))
    chat.drain()
    assert reported_at is not None
    confirmation = next(
        d for d in chat.delivered if d.room_topic == "江南新村5号楼" and d.text.startswith("已登记")
    )
    # promptly: within a few sends of the outbox's pace, not behind the flood's answers
    assert confirmation.at - reported_at < timedelta(seconds=10)
    flooder = [d for d in chat.delivered if "wxid_刷屏者" in d.mention_ids or d.room_topic == "江南新村3号楼"]
    assert slow_downs(chat, "wxid_刷屏者") == [SLOW_DOWN.format(limit=limit)]
    assert len(flooder) == limit + 1  # the answers it earned and one slow-down: no queue of hundreds
    with chat.bot.services.factory() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.reporter_id == "wxid_张阿姨")
            )
            == 1
        )
        assert (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.reporter_id == "wxid_刷屏者")
            )
            == limit
        )
        kept = session.scalars(
            select(IncomingRecord.text).where(IncomingRecord.sender_id == "wxid_刷屏者")
        ).all()
    assert kept == [FLOOD] * 500  # nothing lost from the record
    again = chat.message(FLOOD, "刷屏者", "江南新村3号楼", message_id="flood-400")  # WeChat delivers it twice
    assert chat.bot.handle(again) == []


def test_after_a_quiet_minute_the_contact_is_heard_again_and_told_again(chat: Simulation) -> None:
    limit = chat.bot.services.config.limits.per_contact_per_minute
    for _ in range(limit + 3):
        chat.feed(chat.message("/帮助", "张阿姨", "江南新村3号楼"))
    chat.drain()
    assert len(slow_downs(chat, "wxid_张阿姨")) == 1
    chat.wait(minutes=1)
    assert chat.say("江南新村3号楼", "张阿姨", "/帮助")[0].text.startswith("亲邻助手 · ")
    for _ in range(limit + 3):
        chat.feed(chat.message("/帮助", "张阿姨", "江南新村3号楼"))
    chat.drain()
    assert len(slow_downs(chat, "wxid_张阿姨")) == 2


def test_chatter_and_acknowledgements_do_not_count(chat: Simulation) -> None:
    """Neither is ever answered, so neither can crowd the outbox: a group saying 收到 and chatting
    away leaves the next report of each of them answered."""
    limit = chat.bot.services.config.limits.per_contact_per_minute
    chat.say("居委工作群", "王社工", "#通知 3号楼 明天停水")
    chat.wait(minutes=1)
    for n in range(limit * 2):
        chat.feed(chat.message("收到" if n % 2 else "今天菜场几点开门？", "张阿姨", "江南新村3号楼"))
    reply = chat.say("江南新村3号楼", "张阿姨", "#家庭报告 3号楼201 返沪1人")
    assert reply[0].text.startswith("已登记")
    assert not slow_downs(chat, "wxid_张阿姨")


def test_wechat_delivering_each_message_three_times_does_not_count_against_the_limit(
    chat: Simulation,
) -> None:
    """The SDK says a message may arrive two or three times: a repeat is not acted on again, so it
    neither counts towards the sender's minute nor runs a command's handler a second time."""
    limit = chat.bot.services.config.limits.per_contact_per_minute
    for n in range(limit):
        message = chat.message(
            f"#家庭报告 3号楼{201 + n} 返沪1人", "张阿姨", "江南新村3号楼", message_id=f"m-{n}"
        )
        for _ in range(3):
            chat.feed(message)
    chat.drain()
    assert slow_downs(chat, "wxid_张阿姨") == []
    assert sum(d.text.startswith("已登记") for d in chat.delivered) == limit
    exports = Path(chat.bot.services.config.exports_dir)
    ledger = chat.message("/导出 本月", "王社工", "居委工作群", message_id="export-1")
    chat.feed(ledger)
    chat.drain()
    written = sorted(exports.iterdir())
    assert len(written) == 1
    before = written[0].stat().st_mtime_ns
    chat.clock.advance(timedelta(minutes=1))  # a later redelivery would write a new ledger
    assert chat.bot.handle(ledger) == []
    assert sorted(exports.iterdir()) == written and written[0].stat().st_mtime_ns == before
