"""A relay to many rooms by anyone but staff waits for the sender's 确认 N12 (bot/services/notices.py)."""

from __future__ import annotations

import pytest

from bot.transports.simulated import Simulation
from tests.conftest import bind_privileged_people

BRANCH = "第2党支部"
STAFF = "居委工作群"
BUILDINGS = [
    f"江南新村{n}号楼" for n in range(1, 26)
]  # 25 building rooms: more than the 20 that need no 确认


@pytest.fixture
def config(shipped_config, tmp_path):
    """Without the config.yaml reminders, so notice numbers are this test's own."""
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


@pytest.fixture
def estate(chat: Simulation) -> Simulation:
    for topic in [BRANCH, STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")
    return chat


def relays(deliveries) -> list[str]:
    return sorted(d.room_topic for d in deliveries if d.text.startswith(("【通知】", "【紧急通知】")))


HELD = (
    "N1 将发往 25 个楼组群（全体楼组），超过 20 个群需要确认：请在 10 分钟内回复“确认 N1”，否则不发送；"
    "不发了请回复“/取消 N1”。"
)


def test_a_party_members_relay_to_many_rooms_waits_for_confirmation(estate: Simulation) -> None:
    held = estate.say(BRANCH, "赵党员", "#通知 全体 今晚8点开会")
    assert [d.text for d in held] == [HELD]  # nothing went to any building yet
    estate.wait(minutes=5)
    out = estate.say(BRANCH, "赵党员", "确认 N1")
    assert out[0].text.startswith("已确认。已排队发送 N1 至 25 个楼组群（全体楼组）")
    assert relays(out) == sorted(BUILDINGS)
    assert estate.say(BRANCH, "赵党员", "确认 N1")[0].text == "N1 不是您待确认的通知。"  # once is enough


def test_few_rooms_need_no_confirmation(estate: Simulation) -> None:
    out = estate.say(BRANCH, "赵党员", "#通知 1-20号楼 今晚8点开会")
    assert out[0].text.startswith("已排队发送 N1 至 20 个楼组群")
    assert len(relays(out)) == 20


def test_staff_are_not_asked(estate: Simulation) -> None:
    for name, room in (("王社工", STAFF), ("李书记", None)):
        out = estate.say(room, name, "#紧急通知 全体 煤气泄漏，请勿用明火")
        assert [d.text[:6] for d in out if not d.text.startswith("【紧急通知】")] == ["已排队发送 "]
        assert relays(out) == sorted(BUILDINGS)


def test_unconfirmed_it_lapses_and_the_sender_is_told(estate: Simulation) -> None:
    estate.say(BRANCH, "赵党员", "#通知 全体 今晚8点开会")
    told = estate.wait(minutes=11)
    assert [(d.room_topic, d.text, d.mention_ids) for d in told] == [
        (BRANCH, "N1 没有在 10 分钟内确认，已作废、没有发出；如仍需发送，请重新发布。", ("wxid_赵党员",))
    ]
    late = estate.say(BRANCH, "赵党员", "确认 N1")
    assert [d.text for d in late] == ["N1 已超过 10 分钟未确认，已作废、没有发出；如仍需发送，请重新发布。"]
    assert not relays(estate.delivered)


def test_staff_see_held_relays_and_cancel_one_and_the_sender_is_told(estate: Simulation) -> None:
    estate.say(None, "赵党员", "#通知 全体 今晚8点开会")
    assert estate.say(STAFF, "王社工", "/待确认")[0].text == (
        "等待发布人确认的通知：\nN1 赵党员 09:00 发往25个群（全体楼组），09:10 前未确认作废：今晚8点开会\n不发请回复 /取消 N编号。"
    )
    assert estate.say(BRANCH, "赵党员", "/待确认")[0].text == "抱歉，/待确认 仅限社工使用。"
    out = estate.say(STAFF, "王社工", "/取消 N1")
    assert {(d.room_topic, d.person_name, d.text) for d in out} == {
        (STAFF, None, "已取消 N1。"),
        (None, "赵党员", "N1 已由王社工取消，没有发出。"),
    }
    assert estate.say(None, "赵党员", "确认 N1")[0].text == "N1 不是您待确认的通知。"
    assert estate.say(STAFF, "王社工", "/待确认")[0].text == "没有等待确认的通知。"
    assert estate.wait(minutes=15) == []  # a cancelled relay does not lapse a second time
    assert not relays(estate.delivered)


def test_only_the_sender_confirms(estate: Simulation) -> None:
    estate.say(BRANCH, "赵党员", "#通知 全体 今晚8点开会")
    assert estate.say(BRANCH, "张阿姨", "确认 N1")[0].text == "抱歉，确认 仅限党员、社工使用。"
    assert (
        estate.say(STAFF, "王社工", "确认 N1")[0].text == "N1 不是您待确认的通知。"
    )  # staff cancel, they do not confirm for others
    assert not relays(estate.delivered)


def test_a_scheduled_relay_to_many_rooms_is_confirmed_once_then_goes_at_its_time(estate: Simulation) -> None:
    held = estate.say(BRANCH, "赵党员", "#定时通知 明天 8:00 全体 体检")
    assert held[0].text.startswith("N1 将发往 25 个楼组群")
    assert (
        estate.say(BRANCH, "赵党员", "确认 N1")[0].text
        == "已确认 N1：11月24日 08:00发送。取消请回复 /取消 N1"
    )
    assert relays(estate.wait(days=1)) == sorted(BUILDINGS)


def test_help_shows_confirming_to_party_and_the_held_list_to_staff(estate: Simulation) -> None:
    party = estate.say(None, "赵党员", "/帮助")[0].text
    staff = estate.say(None, "王社工", "/帮助")[0].text
    assert "· 确认 N12：确认发往很多群的通知（在提示的时限内）" in party and "/待确认" not in party
    assert "· /待确认：查看等待发布人确认的通知（可用 /取消 N12 取消）" in staff
