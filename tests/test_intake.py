"""Report intake driven as residents drive it: messages in, replies out."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.message import MessageType
from bot.transports.simulated import Simulation
from storage.models import IncomingRecord, Report, ReportEvent

B3 = "江南新村3号楼"
B5 = "江南新村5号楼"


def texts(deliveries) -> list[str]:
    return [d.text for d in deliveries]


def reports(chat: Simulation) -> list[Report]:
    with chat.bot.services.factory() as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


def test_family_report_is_confirmed_with_number_and_fields(chat: Simulation) -> None:
    replies = chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人 来自武汉")
    assert texts(replies) == [
        "已登记 家庭报告 #1：3号楼201室｜返沪登记｜2人｜来自武汉。有误请回复“更正 1 …”，撤回请回复“撤回 1”。"
    ]
    assert replies[0].room_topic == B3
    (report,) = reports(chat)
    assert (report.kind, report.category, report.building, report.unit, report.people, report.origin) == (
        "family",
        "return",
        "3",
        "201",
        2,
        "武汉",
    )
    assert report.status == "open"
    assert report.reporter_name == "孙师傅"


def test_phone_is_stored_but_masked_in_the_group(chat: Simulation) -> None:
    replies = chat.say(B3, "孙师傅", "登记 3号楼201 返沪1人 电话13812345678")
    assert "13812345678" not in replies[0].text
    assert "138****5678" in replies[0].text
    assert reports(chat)[0].phone == "13812345678"


def test_building_room_fills_the_building(chat: Simulation) -> None:
    replies = chat.say(B5, "孙师傅", "报告 302 家里老人发烧")
    (report,) = reports(chat)
    assert (report.building, report.unit, report.category, report.kind) == ("5", "302", "health", "family")
    assert replies[0].text.startswith("已登记 家庭报告 #1：5号楼302室｜健康异常")


def test_roster_resident_fills_own_building_and_unit(chat: Simulation) -> None:
    chat.say(None, "张阿姨", "求助 需要买菜，腿脚不方便")  # private chat, known from the roster
    (report,) = reports(chat)
    assert (report.building, report.unit, report.category, report.room_id) == ("3", "201", "assistance", None)


def test_missing_unit_is_asked_for_and_the_answer_completes_it(chat: Simulation) -> None:
    first = chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    assert texts(first) == ["已收到 家庭报告 #1，请补充室号，例如 201（10分钟内回复即可）。"]
    assert reports(chat)[0].status == "pending"
    chat.wait(minutes=3)
    second = chat.say(B5, "孙师傅", "302")
    assert second[0].text.startswith("已登记 家庭报告 #1：5号楼302室｜外来人员登记｜3人")
    (report,) = reports(chat)
    assert (report.status, report.unit) == ("open", "302")
    with chat.bot.services.factory() as session:
        actions = session.scalars(select(ReportEvent.action).order_by(ReportEvent.id)).all()
    assert actions == ["create", "complete"]


def test_an_answer_from_someone_else_or_another_room_does_not_complete(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    assert chat.say(B5, "周老师", "302") == []
    assert chat.say(B3, "孙师傅", "302") == []
    assert reports(chat)[0].status == "pending"


def test_unanswered_question_leaves_the_report_incomplete_not_lost(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    chat.wait(minutes=11)
    late = chat.say(B5, "孙师傅", "302")  # too late: told what became of it, not completed
    assert late[0].text.startswith("#1 的补充已超过10分钟，报告已按“信息不全”保存")
    (report,) = reports(chat)
    assert report.status == "incomplete"
    assert report.raw_text == "登记 新搬来租户 一家三口"


def test_both_fields_missing_asks_for_both(chat: Simulation) -> None:
    replies = chat.say(None, "路人甲", "家庭报告 返沪 2人 来自安徽")
    assert "请补充楼号和室号，例如 3号楼201" in replies[0].text
    assert replies[0].person_name == "路人甲" and replies[0].room_topic is None
    done = chat.say(None, "路人甲", "12号楼 303")
    assert done[0].text.startswith("已登记 家庭报告 #1：12号楼303室")


def test_cancel_withdraws_the_pending_report(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    assert texts(chat.say(B5, "孙师傅", "取消")) == ["好的，#1 已取消（记录保留为已撤回）。"]
    assert reports(chat)[0].status == "withdrawn"


def test_building_report_in_building_room(chat: Simulation) -> None:
    replies = chat.say("江南新村48号楼", "周老师", "【楼组报告】48号楼门牌太不显眼")
    (report,) = reports(chat)
    assert (report.kind, report.category, report.building, report.status) == (
        "building",
        "repair",
        "48",
        "open",
    )
    assert replies[0].text.startswith("已登记 楼组报告 #1：48号楼｜设施报修")


def test_area_report_in_area_room(chat: Simulation) -> None:
    chat.say("二片区群", "吴阿姨", "反映 垃圾厢房旁边堆了建筑垃圾")
    (report,) = reports(chat)
    assert (report.kind, report.category, report.area, report.status) == (
        "area",
        "environment",
        "二片区",
        "open",
    )


def test_correction_by_reporter_changes_fields_and_is_audited(chat: Simulation) -> None:
    chat.say(B3, "郑老伯", "求助 我家老人独居 301室")
    replies = chat.say(B3, "郑老伯", "更正 1 302室")
    assert replies[0].text.startswith("已更正 #1：3号楼302室")
    assert reports(chat)[0].unit == "302"
    with chat.bot.services.factory() as session:
        event = session.scalars(select(ReportEvent).where(ReportEvent.action == "correct")).one()
    assert event.changes == {"unit": ["301", "302"]} and event.actor_name == "郑老伯"


def test_correction_and_withdrawal_refused_for_others_allowed_for_staff(chat: Simulation) -> None:
    chat.say(B3, "郑老伯", "求助 我家老人独居 301室")
    assert texts(chat.say(B3, "冯阿姨", "更正 1 302室")) == ["抱歉，只有报告人或社工可以更正 #1。"]
    assert texts(chat.say(B3, "冯阿姨", "撤回 1")) == ["抱歉，只有报告人或社工可以撤回 #1。"]
    assert reports(chat)[0].unit == "301"
    assert texts(chat.say("居委工作群", "王社工", "撤回 1")) == ["已撤回 #1（记录保留）。"]
    assert reports(chat)[0].status == "withdrawn"


def test_malformed_corrections_get_an_example(chat: Simulation) -> None:
    chat.say(B3, "郑老伯", "求助 我家老人独居 301室")
    assert texts(chat.say(B3, "郑老伯", "更正")) == ["格式：更正 <编号> <内容>，例如：更正 7 302室"]
    assert texts(chat.say(B3, "郑老伯", "更正 abc")) == ["格式：更正 <编号> <内容>，例如：更正 7 302室"]
    assert texts(chat.say(B3, "郑老伯", "更正 99 302室")) == ["没有找到 #99，请核对编号。"]
    assert texts(chat.say(B3, "郑老伯", "更正 1 哈哈")) == [
        "没看懂要更正什么，例如：更正 1 302室 或 更正 1 3人"
    ]
    assert reports(chat)[0].unit == "301"


def test_withdraw_own_report(chat: Simulation) -> None:
    chat.say(B3, "郑老伯", "求助 我家老人独居 301室")
    assert texts(chat.say(B3, "郑老伯", "撤回 1")) == ["已撤回 #1（记录保留）。"]
    assert texts(chat.say(B3, "郑老伯", "撤回 1")) == ["#1 已经撤回过了。"]
    assert texts(chat.say(B3, "郑老伯", "更正 1 302室")) == ["#1 已撤回，不能再更正。"]


def test_chain_lines_are_recorded_once_across_reposts(chat: Simulation) -> None:
    first = chat.say(
        B3, "钱组长", "#接龙 返沪登记\n1. 3号楼101 陈先生 1人 来自安徽\n2. 3号楼402 林女士 2人 从湖北回来"
    )
    assert first[0].text.startswith("已登记接龙「返沪登记」 2 条")
    second = chat.say(
        B3,
        "冯阿姨",
        "#接龙 返沪登记\n1. 3号楼101 陈先生 1人 来自安徽\n2. 3号楼402 林女士 2人 从湖北回来\n3. 3号楼502 冯阿姨 3人 来自江西",
    )
    assert second[0].text.startswith("已登记接龙「返沪登记」 1 条；已登记过的 2 行未重复记录")
    units = [(r.building, r.unit, r.people, r.origin, r.category) for r in reports(chat)]
    assert units == [
        ("3", "101", 1, "安徽", "return"),
        ("3", "402", 2, "湖北", "return"),
        ("3", "502", 3, "江西", "return"),
    ]
    # personal names from the list are not echoed into the group
    assert "陈先生" not in first[0].text and "林女士" not in first[0].text
    again = chat.say(B3, "陈先生", "#接龙 返沪登记\n1. 3号楼101 陈先生 1人 来自安徽")
    assert texts(again) == ["接龙「返沪登记」的 1 行都已登记过，无新增。"]


def test_chatter_is_silent_and_not_stored(chat: Simulation) -> None:
    for text in [
        "收到",
        "谢谢居委会！",
        "3号楼今天停水吗？",
        "好的",
        "我要报告一下吗？",
        "3号楼的张阿姨来了吗",
    ]:
        assert chat.say(B3, "冯阿姨", text) == [], text
    assert reports(chat) == []
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(IncomingRecord)) == 0


def test_unbound_room_is_ignored(chat: Simulation) -> None:
    assert chat.say("广场舞姐妹群", "冯阿姨", "#家庭报告 3号楼201 返沪2人") == []
    assert reports(chat) == []


def test_bots_own_messages_are_ignored(chat: Simulation) -> None:
    message = chat.message("#家庭报告 3号楼201 返沪2人", "亲邻助手", B3)
    chat.bot.handle(type(message)(**{**message.__dict__, "is_self": True}))
    chat.drain()
    assert chat.delivered == [] and reports(chat) == []


def test_bad_input_never_crashes_or_loses_a_record(chat: Simulation) -> None:
    huge = "登记 3号楼201 " + "很长的描述" * 10_000  # ~50 KB
    bad_inputs = [
        "",
        "   \n\t ",
        "😀😀😀",
        "[图片]",
        "\x00\x07\x1b[31m登记\x00",
        "'; DROP TABLE reports; --",
        "登记 3号楼201'; DROP TABLE reports; --",
        huge,
        "更正 7 7 7 7",
        "撤回 -1",
        "/",
        "#",
        "【】",
    ]
    for text in bad_inputs:
        replies = chat.say(B3, "冯阿姨", text)
        assert len(replies) <= 1, text
        for reply in replies:
            assert 0 < len(reply.text) < 400 and "Traceback" not in reply.text
    stored = reports(chat)
    assert any(r.unit == "201" and "DROP TABLE" in r.raw_text for r in stored)
    assert any(r.raw_text.startswith("登记 3号楼201 很长的描述") for r in stored)


def test_non_text_messages_are_recorded_and_voice_gets_a_text_request(chat: Simulation) -> None:
    assert chat.say(B3, "冯阿姨", "", type=MessageType.IMAGE) == []
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    replies = chat.say(B5, "孙师傅", "", type=MessageType.VOICE)
    assert texts(replies) == ["抱歉，语音无法登记，请用文字回复，例如 201。"]
    with chat.bot.services.factory() as session:
        kinds = session.scalars(select(IncomingRecord.type).order_by(IncomingRecord.id)).all()
    assert kinds == ["image", "text", "voice"]


def test_a_new_report_while_a_question_is_open_is_a_new_report(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    replies = chat.say(B5, "孙师傅", "#家庭报告 5号楼101 返沪1人")
    assert replies[0].text.startswith("已登记 家庭报告 #2：5号楼101室")
    assert [r.status for r in reports(chat)] == ["pending", "open"]


HUGE = "9" * 30


def test_numbers_no_record_can_have_get_a_short_answer_not_a_failure(chat: Simulation) -> None:
    """Every place that reads a number from chat, fed one longer than any database integer."""
    from bot.app import GENERIC_FAILURE

    staff_room = "居委工作群"
    cases = [
        (staff_room, "王社工", f"/回执 N{HUGE}", "格式：/回执 <通知编号>，例如：/回执 N12"),
        (staff_room, "王社工", f"/撤回通知 N{HUGE}", "格式：/撤回通知 <通知编号>，例如：/撤回通知 N12"),
        (staff_room, "王社工", f"/取消 N{HUGE}", "格式：/取消 <通知编号>，例如：/取消 N13"),
        (staff_room, "王社工", f"/办结 {HUGE} 好了", "格式：/办结 <编号> [说明]"),
        (staff_room, "王社工", f"/查询 #{HUGE}", "没有找到符合条件的报告"),
        (staff_room, "王社工", f"/汇总 近{HUGE}天", "没看懂时间段"),
        (staff_room, "王社工", f"#通知 1-{HUGE}号楼 停水", "楼号看不懂"),
        (staff_room, "王社工", "#通知 1-99999号楼 停水", "楼号看不懂"),
        (staff_room, "李书记", f"/设为 @孙师傅 楼组长 1-{HUGE}号楼", "楼号看不懂"),
        (staff_room, "李书记", f"/绑定 第{HUGE}支部", "没看懂要绑定成什么群"),
        (B3, "冯阿姨", f"更正 {HUGE} 3号楼201", "格式：更正 <编号> <内容>"),
        (B3, "冯阿姨", f"撤回 {HUGE}", "格式：撤回 <编号>"),
        (B3, "冯阿姨", "撤回 ²", "没有找到 #2"),  # NFKC reads ² as 2 (str.isdigit did too, int() did not)
    ]
    chat.say(B3, "冯阿姨", "大家好")
    for room, who, text, answer in cases:
        replies = chat.say(room, who, text)
        assert len(replies) == 1 and replies[0].text.startswith(answer), (text, [r.text for r in replies])
    assert chat.say(B3, "冯阿姨", f"收到 N{HUGE}") == []  # names no notice: chatter
    counted = chat.say(B3, "冯阿姨", f"#家庭报告 3号楼201 返沪{HUGE}人")
    assert counted[0].text.startswith("已登记 家庭报告") and GENERIC_FAILURE not in counted[0].text
    assert not [d for d in chat.delivered if d.text == GENERIC_FAILURE]


def test_a_second_question_settles_the_first_report_as_incomplete(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    asked_again = chat.say(B5, "孙师傅", "登记 返沪 两人")
    assert asked_again[0].text.startswith("已收到 家庭报告 #2，请补充室号")
    assert [r.status for r in reports(chat)] == ["incomplete", "pending"]  # #1 can no longer be answered
    chat.wait(minutes=11)
    assert [r.status for r in reports(chat)] == ["incomplete", "incomplete"]


def test_a_phone_typed_anywhere_reaches_a_group_masked(chat: Simulation) -> None:
    chained = chat.say(B3, "孙师傅", "#接龙 张三 13812345678\n1. 3号楼201 张三 2人")
    assert chained[0].text.startswith("已登记接龙「张三 138****5678」")
    period = chat.say("居委工作群", "王社工", "/汇总 138 1234 5678")
    assert "138 1234 5678" in period[0].text  # the staff room sees what staff typed
    asked = chat.say(B3, "钱组长", "/汇总 13812345678")
    assert "13812345678" not in asked[0].text and "138****5678" in asked[0].text


def test_an_unexpected_failure_still_answers_at_once_in_a_room_seen_for_the_first_time(
    chat: Simulation, monkeypatch
) -> None:
    from datetime import datetime

    import handlers.staff
    from bot.app import GENERIC_FAILURE
    from bot.clock import SHANGHAI

    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(handlers.staff, "parse_period", broken)
    chat.advance_to(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))  # quiet hours
    replies = chat.say("居委工作群", "王社工", "/汇总")
    assert [(r.text, r.room_topic) for r in replies] == [(GENERIC_FAILURE, "居委工作群")]
    assert replies[0].at < datetime(2026, 11, 23, 23, 1, tzinfo=SHANGHAI)  # not held until morning
    with chat.bot.services.factory() as session:
        kept = session.scalars(select(IncomingRecord.text)).all()
    assert kept == ["/汇总"]
