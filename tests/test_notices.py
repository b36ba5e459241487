"""Notices as party members and staff use them: relay, 收到, /回执, reminders, schedules, pacing."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import SHANGHAI
from bot.config import RecurringReminder
from bot.outbox import TransportError
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.models import NoticeAck
from tests.conftest import bind_privileged_people

BRANCH = "第2党支部"
STAFF = "居委工作群"
BUILDINGS = ["江南新村3号楼", "江南新村5号楼", "江南新村8号楼", "江南新村30号楼"]


@pytest.fixture
def config(shipped_config, tmp_path):
    """Without the config.yaml reminders, so notice numbers and reminders are this test's own."""
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


def meet_rooms(chat: Simulation) -> None:
    """The bot knows a room once it has seen a message in it."""
    for topic in [BRANCH, STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")


def to_rooms(deliveries) -> list[str]:
    return sorted(d.room_topic for d in deliveries if d.text.startswith(("【通知】", "【紧急通知】")))


def test_notice_goes_to_named_buildings_with_number_and_receipt(chat: Simulation) -> None:
    meet_rooms(chat)
    out = chat.say(BRANCH, "赵党员", "#通知 3号楼 5号楼 明天上午9点停水，请提前储水。")
    receipt = [d for d in out if d.room_topic == BRANCH]
    assert receipt[0].text.startswith("已排队发送 N1 至 2 个楼组群（3号楼、5号楼）")
    assert to_rooms(out) == ["江南新村3号楼", "江南新村5号楼"]
    relay = next(d for d in out if d.room_topic == "江南新村3号楼")
    assert (
        relay.text
        == "【通知】江南新村居民区 N1｜赵党员（党员）\n明天上午9点停水，请提前储水。\n——请回复“收到”确认"
    )


def header(delivered) -> str:
    return delivered.text.splitlines()[0]


def test_the_header_names_who_sent_it_by_roster_name_and_role(chat: Simulation) -> None:
    """Residents see who is speaking: the roster name and role of the contact proven to be that
    person, not a display name (anyone can rename themselves 李书记 in a group)."""
    meet_rooms(chat)
    staff = next(
        d for d in chat.say(STAFF, "王社工", "#紧急通知 3号楼 今晚停电") if d.room_topic == "江南新村3号楼"
    )
    assert header(staff) == "【紧急通知】江南新村居民区 N1｜王社工（社工）"
    renamed = chat.say(
        BRANCH, "李书记", "#通知 5号楼 明天停水", sender_id="wxid_赵党员"
    )  # 赵党员 renamed themself
    assert (
        header(next(d for d in renamed if d.room_topic == "江南新村5号楼"))
        == "【通知】江南新村居民区 N2｜赵党员（党员）"
    )
    chat.say("江南新村3号楼", "张阿姨", "大家好")
    chat.say(None, "李书记", "/授权 @张阿姨 今天", mentions=("wxid_张阿姨",))
    delegated = chat.say(None, "张阿姨", "#通知 8号楼 今晚消毒")
    assert (
        header(next(d for d in delegated if d.room_topic == "江南新村8号楼"))
        == "【通知】江南新村居民区 N3｜张阿姨（临时授权）"
    )


def test_a_scheduled_notice_is_signed_when_it_goes_out(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.say(BRANCH, "赵党员", "#定时通知 明天 8:00 3号楼 体检")
    relay = next(d for d in chat.wait(days=1) if d.room_topic == "江南新村3号楼" and "体检" in d.text)
    assert header(relay) == "【通知】江南新村居民区 N1｜赵党员（党员）"


def test_targets_all_ranges_branches_and_areas(chat: Simulation) -> None:
    meet_rooms(chat)
    assert to_rooms(chat.say(STAFF, "王社工", "#通知 今晚消毒")) == sorted(BUILDINGS)
    assert to_rooms(chat.say(STAFF, "王社工", "#通知 3-8号楼 今晚消毒")) == [
        "江南新村3号楼",
        "江南新村5号楼",
        "江南新村8号楼",
    ]
    assert to_rooms(chat.say(STAFF, "王社工", "#通知 3、30号楼 今晚消毒")) == [
        "江南新村30号楼",
        "江南新村3号楼",
    ]
    assert to_rooms(chat.say(STAFF, "王社工", "#通知 第2支部 今晚消毒")) == ["江南新村8号楼"]
    assert to_rooms(chat.say(STAFF, "王社工", "#通知 二片区 今晚消毒")) == ["江南新村30号楼"]
    party = chat.say(STAFF, "王社工", "#通知 各支部 党员先学习")
    assert sorted(d.room_topic for d in party if d.text.startswith("【通知】")) == [BRANCH]


def test_only_party_staff_admin_may_post(chat: Simulation) -> None:
    meet_rooms(chat)
    refused = chat.say(BRANCH, "张阿姨", "#通知 明天停水")
    assert [d.text for d in refused] == ["抱歉，#通知 仅限党员、社工使用。"]
    assert [d.text for d in chat.say("江南新村3号楼", "赵党员", "#通知 明天停水")] == [
        "通知请在党总支群、党支部群、工作群或私聊中发布。"
    ]
    assert to_rooms(chat.say(None, "李书记", "#通知 3号楼 明天停水")) == ["江南新村3号楼"]


def test_fan_out_is_paced_and_quiet_hours_hold_ordinary_notices(chat: Simulation) -> None:
    meet_rooms(chat)
    out = chat.say(STAFF, "王社工", "#通知 今晚消毒")
    assert "静默" not in out[0].text  # by day the receipt says nothing about the night
    times = [d.at for d in out if d.text.startswith("【通知】")]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps and all(2.0 <= gap <= 3.0 for gap in gaps)
    chat.advance_to(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    urgent = chat.say(STAFF, "王社工", "#紧急通知 3号楼 煤气泄漏，请立即开窗")
    relay = next(d for d in urgent if d.text.startswith("【紧急通知】"))
    assert relay.at < datetime(2026, 11, 23, 23, 1, tzinfo=SHANGHAI)  # urgent: not held until morning
    assert "静默" not in urgent[0].text
    night = chat.say(STAFF, "王社工", "#通知 3号楼 明早检修")
    assert night[0].text == (
        "已排队发送 N3 至 1 个楼组群（3号楼）（现在是夜间静默时段 22:00-07:00，将于 07:00 起发出）。"
        "用 /回执 N3 查看确认情况。"
    )
    relay = next(d for d in night if d.text.startswith("【通知】"))
    assert relay.at == datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI)


def test_acknowledgements_count_once_per_person_and_receipt_names_silent_rooms(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.say(BRANCH, "赵党员", "#通知 3号楼 5号楼 明天停水")
    for text in ["收到", "收到", "好的收到", "收到👌"]:
        assert chat.say("江南新村3号楼", "张阿姨", text) == []
    assert chat.say("江南新村3号楼", "郑老伯", "收到 N1") == []
    assert chat.say("江南新村3号楼", "冯阿姨", "已阅") == []
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(NoticeAck)) == 3
    receipt = chat.say(BRANCH, "赵党员", "/回执 N1")[0].text
    assert receipt == "N1 回执（共 2 个群，3 人确认）：\n· 江南新村3号楼：3 人\n无人确认：江南新村5号楼"
    assert chat.say(BRANCH, "张阿姨", "/回执 N1")[0].text == "抱歉，/回执 仅限党员、社工使用。"


def test_ack_outside_the_window_or_without_notice_is_chatter(chat: Simulation) -> None:
    meet_rooms(chat)
    assert chat.say("江南新村3号楼", "张阿姨", "收到") == []
    chat.say(BRANCH, "赵党员", "#通知 3号楼 明天停水")
    chat.wait(hours=73)
    chat.say("江南新村3号楼", "张阿姨", "收到")
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(NoticeAck)) == 0


def test_one_reminder_only_to_silent_rooms(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.say(BRANCH, "赵党员", "#通知 3号楼 5号楼 明天停水")
    chat.say("江南新村3号楼", "张阿姨", "收到")
    later = chat.wait(hours=30)
    reminders = [d for d in later if d.text.startswith("【提醒】")]
    assert [d.room_topic for d in reminders] == ["江南新村5号楼"]
    assert not [d for d in chat.wait(hours=30) if d.text.startswith("【提醒】")]


def test_scheduled_notice_fires_after_a_restart(chat: Simulation, config, engine, clock) -> None:
    meet_rooms(chat)
    reply = chat.say(STAFF, "王社工", "#定时通知 明天 8:00 3号楼 上午停水")[0].text
    assert reply.startswith("已定时 N1：11月24日 08:00发送至3号楼")
    assert "N1" in chat.say(STAFF, "王社工", "/定时")[0].text
    # the bot is restarted: a new process on the same database
    restarted = Simulation(build_application(config, engine, clock), clock)
    restarted.advance_to(datetime(2026, 11, 24, 8, 1, tzinfo=SHANGHAI))
    sent = [d for d in restarted.delivered if d.text.startswith("【通知】")]
    assert [(d.room_topic, d.at.astimezone(SHANGHAI).strftime("%H:%M")) for d in sent] == [
        ("江南新村3号楼", "08:00")
    ]


def test_a_send_missed_by_more_than_an_hour_is_skipped_and_the_sender_told(
    chat: Simulation, config, engine, clock
) -> None:
    meet_rooms(chat)
    chat.say(STAFF, "王社工", "#定时通知 明天 8:00 3号楼 上午停水")
    clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))  # the bot was down from before 8:00 until 10:00
    restarted = Simulation(build_application(config, engine, clock), clock)
    restarted.drain()
    assert not [d for d in restarted.delivered if d.text.startswith("【通知】")]
    told = [d for d in restarted.delivered if "已跳过" in d.text]
    assert told and told[0].person_id == "wxid_王社工"


def test_cancel_and_recurring_reminders(shipped_config, engine, clock) -> None:
    chat = Simulation(
        build_application(bind_privileged_people(shipped_config), engine, clock), clock
    )  # with the 垃圾分类 reminders
    meet_rooms(chat)
    number = (
        chat.say(STAFF, "王社工", "#定时通知 明天 8:00 3号楼 上午停水")[0].text.split("：")[0].split()[-1]
    )
    assert chat.say(STAFF, "王社工", f"/取消 {number}")[0].text == f"已取消 {number}。"
    chat.say(STAFF, "王社工", "#定时通知 每天 6:30 3号楼 早锻炼注意安全")
    days = chat.wait(hours=48)
    exercise = [d for d in days if "早锻炼" in d.text and d.text.startswith("【通知】")]
    assert [d.at.astimezone(SHANGHAI).strftime("%d %H:%M") for d in exercise] == [
        "24 07:00",
        "25 07:00",
    ]  # quiet until 7
    garbage = [
        d
        for d in days
        if d.text.startswith("【提示】") and "垃圾分类" in d.text and d.room_topic == "江南新村3号楼"
    ]
    assert [d.at.astimezone(SHANGHAI).strftime("%H:%M") for d in garbage][:3] == ["18:00", "07:00", "18:00"]
    assert not [d for d in days if "上午停水" in d.text]


def test_a_config_reminder_on_weekdays_skips_the_weekend(shipped_config, engine, clock) -> None:
    duty = RecurringReminder(
        name="值班", times=["8:30"], days="mon-fri", targets="3号楼", text="今日值班：请到岗"
    )
    config = bind_privileged_people(shipped_config).model_copy(update={"reminders": [duty]})
    chat = Simulation(
        build_application(config, engine, clock), clock
    )  # Monday 09:00: the first is Tuesday 08:30
    meet_rooms(chat)
    assert "周一至周五 11-24 08:30 3号楼：今日值班" in chat.say(STAFF, "王社工", "/定时")[0].text
    week = chat.wait(days=7)
    sent = [
        d.at.astimezone(SHANGHAI).strftime("%a %H:%M")
        for d in week
        if d.text.startswith("【提示】") and "今日值班" in d.text
    ]
    assert sent == ["Tue 08:30", "Wed 08:30", "Thu 08:30", "Fri 08:30", "Mon 08:30"]


def test_config_reminder_days_must_be_day_names() -> None:
    with pytest.raises(ValueError, match="day names"):
        RecurringReminder(name="值班", times=["8:30"], days="0-4", text="…")
    with pytest.raises(ValueError, match="not a list of days"):
        RecurringReminder(name="值班", times=["8:30"], days="weekdays", text="…")


def test_recall_takes_the_notice_back_from_every_room_within_two_minutes(chat: Simulation) -> None:
    meet_rooms(chat)
    out = chat.say(STAFF, "王社工", "#通知 3号楼 5号楼 8号楼 明天停水（时间写错了）")
    relays = [d for d in out if d.text.startswith("【通知】")]
    assert len(relays) == 3
    chat.wait(seconds=30)
    assert (
        chat.say("江南新村3号楼", "张阿姨", "/撤回通知 N1")[0].text == "抱歉，/撤回通知 仅限党员、社工使用。"
    )
    assert chat.say(BRANCH, "赵党员", "/撤回通知 N1")[0].text == "抱歉，只有发布人或社工可以撤回 N1。"
    answer = chat.say(STAFF, "王社工", "/撤回通知 N1")
    recalls = [d for d in answer if d.recalls is not None]
    # the recalls go first: WeChat's two minutes are running
    assert next(d.text for d in answer if d.recalls is None) == "N1 撤回：3 个群正在撤回，结果稍后告知。"
    assert answer[:3] == recalls
    assert sorted(d.recalls for d in recalls) == sorted(d.outbox_id for d in relays)
    assert all(d.recalled for d in chat.delivered if d.text.startswith("【通知】"))
    report = [d for d in answer if d.text.startswith("N1 撤回结果")]
    assert [(d.room_topic, d.text) for d in report] == [
        (
            STAFF,
            "N1 撤回结果：所有群都已撤回或未发出。\n· 已撤回：江南新村3号楼、江南新村5号楼、江南新村8号楼",
        )
    ]
    assert recalls[-1].as_json()["recall"] is True
    # a recalled notice collects no 收到 and earns no reminders
    chat.say("江南新村3号楼", "张阿姨", "收到")
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(NoticeAck)) == 0
    assert not [d for d in chat.wait(hours=30) if d.text.startswith("【提醒】")]
    assert chat.say(STAFF, "王社工", "/撤回通知 N1")[0].text == "N1 已经在撤回了，结果会另行告知。"


def test_recall_cancels_what_is_still_queued_and_names_rooms_past_the_window(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.feed(chat.message("#通知 明天停水", "王社工", STAFF))
    chat.advance_to(chat.clock.now() + timedelta(seconds=4))  # the receipt and the first relay have gone
    sent_before = [d.room_topic for d in chat.delivered if d.text.startswith("【通知】")]
    assert len(sent_before) == 1
    answer = chat.say(STAFF, "王社工", "/撤回通知 N1")
    assert answer[1].text == "N1 撤回：1 个群正在撤回；3 个群尚未发出，已取消，结果稍后告知。"
    assert not [d for d in chat.delivered if d.text.startswith("【通知】") and not d.recalled]
    assert answer[-1].text.startswith("N1 撤回结果：所有群都已撤回或未发出。")

    chat.say(STAFF, "王社工", "#通知 3号楼 5号楼 今晚消毒")
    chat.wait(minutes=3)
    late = chat.say(STAFF, "王社工", "/撤回通知 N2")
    assert [d.text for d in late] == ["N2 撤回：2 个群已超过2分钟，微信不允许撤回，请在这些群里另发更正。"]


def test_a_recall_the_transport_refuses_is_reported_with_the_room(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.say(STAFF, "王社工", "#通知 3号楼 5号楼 今晚消毒")

    def refuse_in_5(row):
        if row.action == "recall" and row.room_id == "room_江南新村5号楼":
            raise TransportError("WeChat did not recall the message", retry_after=None)
        return None

    chat.send_hook = refuse_in_5
    answer = chat.say(STAFF, "王社工", "/撤回通知 N1")
    assert answer[-1].text == (
        "N1 撤回结果：仍显示在 江南新村5号楼，请在这些群里另发更正。\n"
        "· 已撤回：江南新村3号楼\n· 微信未能撤回：江南新村5号楼"
    )
    assert chat.say(STAFF, "王社工", "/撤回通知 N7")[0].text.startswith("没有找到已发出的通知 N7")
    assert chat.say(STAFF, "王社工", "/撤回通知")[0].text == "格式：/撤回通知 <通知编号>，例如：/撤回通知 N12"


def test_a_phone_in_a_notice_is_masked_in_the_groups_and_the_sender_told(chat: Simulation) -> None:
    meet_rooms(chat)
    out = chat.say(BRANCH, "赵党员", "#通知 3号楼 停水咨询王师傅13912345678")
    assert "手机号会隐去中间四位" in out[0].text
    relay = next(d for d in out if d.text.startswith("【通知】"))
    assert "139****5678" in relay.text and "13912345678" not in relay.text


# ------------------------------------------------------------------ numbers staff can trust (issue: 收到 attribution)

GENERAL = "江南新村党总支"
AT = SHANGHAI


def at_once(chat: Simulation, room: str, sender: str, text: str) -> list:
    """Say something and see what the bot says within a minute (without waiting for the morning)."""
    before = len(chat.delivered)
    chat.feed(chat.message(text, sender, room))
    chat.wait(minutes=1)
    return chat.delivered[before:]


def shipped_chat(shipped_config, engine, clock, tmp_path) -> Simulation:
    """The repository's own config.yaml, 垃圾分类 reminders included, as a new user runs it."""
    config = bind_privileged_people(shipped_config).model_copy(
        update={"exports_dir": str(tmp_path / "exports")}
    )
    chat = Simulation(build_application(config, engine, clock), clock)
    for topic in [BRANCH, GENERAL, STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")
    return chat


def test_a_routine_reminder_takes_no_number_and_steals_no_acknowledgement(
    shipped_config, engine, clock, tmp_path
) -> None:
    chat = shipped_chat(shipped_config, engine, clock, tmp_path)
    chat.advance_to(datetime(2026, 11, 23, 17, 50, tzinfo=AT))
    posted = chat.say(STAFF, "王社工", "#通知 3号楼 今晚8点停电检修")
    assert posted[0].text.startswith("已排队发送 N1 至 1 个楼组群")  # the reminders took no numbers
    chat.advance_to(datetime(2026, 11, 23, 18, 5, tzinfo=AT))
    reminder = [d for d in chat.delivered if "垃圾分类" in d.text and d.room_topic == "江南新村3号楼"]
    assert (
        len(reminder) == 1 and "收到" not in reminder[0].text and "N" not in reminder[0].text.split("\n")[0]
    )
    chat.say("江南新村3号楼", "张阿姨", "收到")
    chat.say("江南新村3号楼", "郑老伯", "收到", at=datetime(2026, 11, 23, 18, 6, tzinfo=AT))
    assert (
        chat.say(STAFF, "王社工", "/回执 N1")[0].text
        == "N1 回执（共 1 个群，2 人确认）：\n· 江南新村3号楼：2 人"
    )
    days = chat.wait(days=2)
    # two routine reminders a day per building room, and no "还没有人确认" about them
    per_room = [d for d in days if d.room_topic == "江南新村5号楼"]
    assert [d.text.startswith("【提示】") for d in per_room] == [True] * 4
    assert not [d for d in days if d.text.startswith("【提醒】")]
    digest = [d for d in days if d.text.startswith("【日报】")]
    assert digest and not [d for d in digest if "未确认的通知" in d.text]


def test_a_reminder_that_asks_for_acknowledgement_is_a_numbered_notice(
    shipped_config, engine, clock, tmp_path
) -> None:
    duty = RecurringReminder(name="值班", times=["8:30"], targets="3号楼", text="今日值班：请到岗", ack=True)
    config = bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [duty], "exports_dir": str(tmp_path / "exports")}
    )
    chat = Simulation(build_application(config, engine, clock), clock)
    for topic in [STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")
    sent = [d for d in chat.wait(days=1) if "今日值班" in d.text]
    assert sent[0].text.startswith("【通知】江南新村居民区 N") and "收到" in sent[0].text
    number, signed = sent[0].text.splitlines()[0].split()[1].split("｜")
    assert signed == "居委会"  # config.yaml's reminder: nobody's chat, the committee's
    chat.say("江南新村3号楼", "钱组长", "收到")
    assert "1 人确认" in chat.say(STAFF, "王社工", f"/回执 {number}")[0].text


def test_acknowledgements_in_party_rooms_count(shipped_config, engine, clock, tmp_path) -> None:
    chat = shipped_chat(shipped_config, engine, clock, tmp_path)
    out = chat.say(STAFF, "王社工", "#通知 各支部 周五下午党员学习，请准时参加")
    assert sorted(d.room_topic for d in out if d.text.startswith("【通知】")) == sorted([BRANCH, GENERAL])
    chat.say(BRANCH, "赵党员", "收到")
    chat.say(GENERAL, "李书记", "收到")
    receipt = chat.say(STAFF, "王社工", "/回执 N1")[0].text
    assert receipt == f"N1 回执（共 2 个群，2 人确认）：\n· {GENERAL}：1 人\n· {BRANCH}：1 人"
    assert not [d for d in chat.wait(days=2) if d.text.startswith("【提醒】")]


def test_recalled_and_withdrawn_notices_are_not_chased(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.say(STAFF, "王社工", "#通知 3号楼 5号楼 明天停水（写错了）")
    chat.wait(seconds=30)
    chat.say(STAFF, "王社工", "/撤回通知 N1")
    chat.advance_to(datetime(2026, 11, 23, 23, 0, tzinfo=AT))
    at_once(chat, STAFF, "王社工", "#通知 8号楼 明早检修")  # held by quiet hours ...
    assert at_once(chat, STAFF, "王社工", "/撤回通知 N2")[0].text.startswith(
        "N2 撤回：1 个群尚未发出，已取消"
    )  # ... never sent
    for number in ("N1", "N2"):
        receipt = chat.say(STAFF, "王社工", f"/回执 {number}")[0].text
        assert "无人确认" not in receipt and "已撤回" in receipt
    days = chat.wait(days=2)
    assert not [d for d in days if d.text.startswith("【提醒】")]
    digests = [d.text for d in days if d.text.startswith("【日报】")]
    assert digests and not [text for text in digests if "未确认的通知" in text]


def test_a_notice_still_held_by_quiet_hours_is_not_yet_unconfirmed(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.advance_to(datetime(2026, 11, 23, 23, 0, tzinfo=AT))
    at_once(chat, STAFF, "王社工", "#通知 3号楼 明早检修")
    chat.advance_to(datetime(2026, 11, 24, 6, 0, tzinfo=AT))
    at_once(chat, "江南新村3号楼", "张阿姨", "收到")  # the room has not seen it yet: chatter
    receipt = at_once(chat, STAFF, "王社工", "/回执 N1")
    text = next(d.text for d in receipt if d.room_topic == STAFF and d.text.startswith("N1 回执"))
    assert "0 人确认" in text and "无人确认" not in text and "尚未发出：江南新村3号楼" in text


def test_a_notice_posted_just_before_quiet_hours_is_not_split(
    shipped_config, engine, clock, tmp_path
) -> None:
    config = bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )
    chat = Simulation(build_application(config, engine, clock), clock)
    rooms = [f"江南新村{n}号楼" for n in range(1, 49)]
    for topic in [STAFF, *rooms]:
        chat.feed(chat.message("大家好", "某居民", topic))
    chat.advance_to(datetime(2026, 11, 23, 21, 58, tzinfo=AT))
    out = chat.say(STAFF, "王社工", "#通知 全体 明天上午电梯检修")
    assert out[0].text == (
        "已排队发送 N1 至 48 个楼组群（全体楼组）（22:00 前发不完，为免一半群今晚收到、一半明早收到，"
        "将于 07:00 起统一发出）。用 /回执 N1 查看确认情况。"
    )
    relays = [d for d in out if d.text.startswith("【通知】")]
    assert len(relays) == 48 and {d.at.astimezone(AT).strftime("%d %H") for d in relays} == {"24 07"}


def test_a_notice_that_fits_before_quiet_hours_goes_tonight(chat: Simulation) -> None:
    meet_rooms(chat)
    chat.advance_to(datetime(2026, 11, 23, 21, 58, tzinfo=AT))
    out = chat.say(STAFF, "王社工", "#通知 全体 明天上午电梯检修")
    assert "统一发出" not in out[0].text
    assert {d.at.astimezone(AT).strftime("%d %H") for d in out if d.text.startswith("【通知】")} == {"23 21"}
