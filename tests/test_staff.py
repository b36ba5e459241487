"""Staff commands as the committee uses them, with refusals and the privacy rules."""

from __future__ import annotations

import re

from openpyxl import load_workbook
from sqlalchemy import select

from bot.transports.simulated import Simulation
from handlers import build_application
from storage.models import QueryLog, Report

STAFF = "居委工作群"
B3, B5 = "江南新村3号楼", "江南新村5号楼"
FULL_PHONE = re.compile(r"1[3-9]\d{9}")


def morning(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人 来自武汉 电话13812345678")
    chat.say(B5, "周老师", "登记 5号楼302 新搬来租户 一家三口")
    chat.say(B3, "郑老伯", "报修 3号楼楼道灯坏了")
    chat.say("二片区群", "吴阿姨", "反映 垃圾厢房旁边堆了建筑垃圾")


def never_a_full_phone_in_a_group(chat: Simulation) -> None:
    """SPEC §6: staff see whole phones in the staff room and in private chat, nowhere else."""
    for delivered in chat.delivered:
        if delivered.room_id is not None and delivered.room_topic != STAFF:
            assert not FULL_PHONE.search(delivered.text), delivered.text


def test_summary_for_staff_counts_by_kind_category_status(chat: Simulation) -> None:
    morning(chat)
    text = chat.say(STAFF, "王社工", "/汇总")[0].text
    assert text.startswith("全居民区 · 今天（11-23至11-23）报告 4 条")
    assert "类型：家庭报告 2，片区报告 1，楼组报告 1" in text
    assert "返沪登记人数：2 人" in text
    scoped = chat.say(STAFF, "王社工", "/汇总 本周 3号楼")[0].text
    assert scoped.startswith("3号楼 · 本周（11-23至11-23）报告 2 条")
    assert chat.say(STAFF, "王社工", "/汇总 去年冬天")[0].text.startswith("没看懂时间段“去年冬天”")


def test_leader_sees_only_own_buildings_and_residents_are_refused(chat: Simulation) -> None:
    morning(chat)
    own = chat.say(B3, "钱组长", "/汇总")[0].text
    assert own.startswith("3号楼 · 今天") and "报告 2 条" in own
    assert chat.say(B3, "钱组长", "/汇总 5号楼")[0].text == "抱歉，楼组长只能查看自己楼组的汇总。"
    assert chat.say(B3, "张阿姨", "/汇总")[0].text == "抱歉，/汇总 仅限社工、楼组长、街道使用。"
    assert chat.say(B3, "张阿姨", "/查询 3号楼")[0].text == "抱歉，/查询 仅限社工、街道使用。"
    assert chat.say(B3, "钱组长", "/导出")[0].text == "抱歉，/导出 仅限社工使用。"


def test_query_in_staff_room_shows_names_and_whole_phones(chat: Simulation) -> None:
    morning(chat)
    text = chat.say(STAFF, "王社工", "/查询 3号楼")[0].text
    assert "#1" in text and "孙师傅" in text and "13812345678" in text and "#3" in text
    assert "#2" not in text
    assert "#1" in chat.say(STAFF, "王社工", "/查询 返沪登记")[0].text
    never_a_full_phone_in_a_group(chat)


def test_query_by_number_finds_an_old_report_that_a_building_query_leaves_out(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人")
    chat.wait(days=40)  # older than the default 近30天
    assert "\n#1 11-23 09:00 家庭报告｜3号楼201室" in chat.say(None, "王社工", "/查询 #1")[0].text
    assert chat.say(None, "王社工", "/查询 3号楼")[0].text == "没有找到符合条件的报告（近30天）。"


def test_query_asked_in_a_building_room_goes_private(chat: Simulation) -> None:
    morning(chat)
    replies = chat.say(B3, "王社工", "/查询 3号楼201")
    private = [d for d in replies if d.room_id is None]
    public = [d for d in replies if d.room_id is not None]
    assert private[0].person_id == "wxid_王社工" and "孙师傅" in private[0].text
    assert "13812345678" in private[0].text  # a private chat with staff
    assert [d.text for d in public] == ["详细结果含个人信息，已私信发给您。"]
    assert "13812345678" in chat.say(None, "王社工", "/查询 #1")[0].text
    never_a_full_phone_in_a_group(chat)
    with chat.bot.services.factory() as session:
        logged = session.execute(select(QueryLog.command, QueryLog.phones_whole).order_by(QueryLog.id)).all()
    assert [tuple(row) for row in logged] == [("/查询", True), ("/查询", True)]


def test_open_items_oldest_first_and_resolve_tells_the_reporter(chat: Simulation) -> None:
    morning(chat)
    todo = chat.say(STAFF, "王社工", "/待办")[0].text
    numbers = re.findall(r"#(\d+)", todo)
    assert numbers == ["1", "2", "3", "4"]
    replies = chat.say(STAFF, "王社工", "/办结 3 已联系物业，楼道灯已换新")
    assert replies[0].text == "已办结 #3，已告知报告人。"
    told = [d for d in replies if d.room_topic == B3]
    assert told[0].text == "@郑老伯 您反映的#3（设施报修）已处理：已联系物业，楼道灯已换新"
    assert told[0].mention_ids == ("wxid_郑老伯",)
    assert "#3" not in chat.say(STAFF, "王社工", "/待办")[0].text
    assert chat.say(STAFF, "王社工", "/办结 3")[0].text == "#3 已办结，无需办结。"
    assert chat.say(STAFF, "王社工", "/办结 abc")[0].text.startswith("格式：/办结 <编号>")
    assert chat.say(B3, "郑老伯", "/办结 3")[0].text == "抱歉，/办结 仅限社工使用。"


def test_export_sends_a_ledger_with_the_right_cells(chat: Simulation) -> None:
    morning(chat)
    chat.say(STAFF, "王社工", "/办结 1 已上门登记")
    replies = chat.say(STAFF, "王社工", "/导出 2026-11")
    ledger = replies[0]
    assert ledger.file_path and ledger.file_path.endswith(".xlsx") and ledger.room_topic == STAFF
    book = load_workbook(ledger.file_path)
    assert book.sheetnames == ["汇总", "家庭报告", "楼组报告", "片区报告"]
    summary = [row for row in book["汇总"].iter_rows(values_only=True)]
    assert ("家庭报告", 2) in summary and ("返沪登记", 1) in summary and ("3号楼", 2) in summary
    family = book["家庭报告"]
    assert [c.value for c in family[1]][:6] == ["编号", "登记时间", "类别", "状态", "楼号", "室号"]
    assert family.freeze_panes == "A2"
    first = [c.value for c in family[2]]
    assert first[0] == "#1" and first[2] == "返沪登记" and first[3] == "已办结" and first[5] == "201"
    assert first[12] == "13812345678"  # the committee's own ledger keeps the phone
    assert first[1].year == 2026 and first[1].hour == 9  # a real date, in Shanghai time
    # asked in a building room, the ledger goes privately
    elsewhere = chat.say(B3, "王社工", "/导出")
    assert [d.room_id is None for d in elsewhere] == [True, False]


def test_every_query_is_logged(chat: Simulation) -> None:
    morning(chat)
    chat.say(STAFF, "王社工", "/汇总 本周")
    chat.say(B3, "王社工", "/查询 3号楼")
    with chat.bot.services.factory() as session:
        logged = session.execute(
            select(QueryLog.person_name, QueryLog.command, QueryLog.arguments).order_by(QueryLog.id)
        ).all()
    assert [tuple(row) for row in logged] == [("王社工", "/汇总", "本周"), ("王社工", "/查询", "3号楼")]


def test_help_lists_only_what_each_person_may_use(chat: Simulation) -> None:
    resident = chat.say(B3, "张阿姨", "/帮助")[0].text
    staff = chat.say(STAFF, "王社工", "/帮助")[0].text
    assert "/汇总" not in resident and "更正" in resident
    assert "/汇总" in staff and "/导出" in staff and "#通知" in staff
    with chat.bot.services.factory() as session:
        assert session.scalar(select(Report.id)) is None


def test_a_ledger_too_large_for_wechat_is_kept_and_staff_told(config, engine, clock) -> None:
    small = config.model_copy(update={"wechaty": config.wechaty.model_copy(update={"max_file_bytes": 1000})})
    chat = Simulation(build_application(small, engine, clock), clock)
    morning(chat)
    reply = chat.say(STAFF, "王社工", "/导出")[0]
    assert reply.file_path is None
    assert "超过微信能发送的大小，已保存在服务器 exports 目录。可以分段导出，例如 /导出 本周。" in reply.text
    name = reply.text.split("已生成：")[1].split("（")[0]
    assert load_workbook(f"{small.exports_dir}/{name}").sheetnames[0] == "汇总"


STAFF_COMMANDS = [
    "/汇总",
    "/查询 返沪",
    "/待办",
    "/办结 1 已处理",
    "/导出",
    "/图表",
    "/回执 N1",
    "/定时",
    "/取消 N1",
    "/撤回通知 N1",
]
ADMIN_COMMANDS = ["/绑定 3号楼", "/设为 @孙师傅 楼组长 3号楼", "/授权 @孙师傅 今天", "/撤销授权 @孙师傅"]


def test_every_staff_command_refuses_a_resident_in_one_line_and_answers_staff(chat: Simulation) -> None:
    morning(chat)
    chat.say(STAFF, "王社工", "#通知 3号楼 明天停水")
    for command in STAFF_COMMANDS + ADMIN_COMMANDS:
        name = command.split()[0]
        refused = chat.say(B3, "张阿姨", command)
        assert [d.text for d in refused] == [refused[0].text] and refused[0].text.startswith(
            f"抱歉，{name} 仅限"
        ), command
        assert refused[0].room_topic == B3
    for command in STAFF_COMMANDS:
        answered = chat.say(STAFF, "王社工", command)
        assert answered and not answered[0].text.startswith("抱歉，"), (command, answered[0].text)
    for command in ADMIN_COMMANDS:
        assert chat.say(STAFF, "王社工", command)[0].text.startswith(f"抱歉，{command.split()[0]} 仅限"), (
            command
        )
        answered = chat.say(STAFF, "李书记", command)
        assert answered and not answered[0].text.startswith("抱歉，"), (command, answered[0].text)
    never_a_full_phone_in_a_group(chat)


def test_resolve_note_loses_phones_rooms_and_other_residents_names_in_the_group(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "报修 3号楼 楼道灯坏了")
    chat.say(B3, "张阿姨", "大家好")  # 张阿姨 is a resident the committee knows
    done = chat.say(STAFF, "王社工", "/办结 1 已联系电工王师傅13912345678，张阿姨3号楼201室家里也修了")
    assert done[0].text == "已办结 #1，已告知报告人（说明里的电话、室号和其他居民姓名在群里已隐去）。"
    told = next(d for d in done if d.room_topic == B3)
    assert (
        told.text
        == "@孙师傅 您反映的#1（设施报修）已处理：已联系电工某师傅139****5678，某居民3号楼***室家里也修了"
    )
    with chat.bot.services.factory() as session:
        kept = session.scalar(select(Report.resolution).where(Report.id == 1))
    assert kept == "已联系电工王师傅13912345678，张阿姨3号楼201室家里也修了"  # the record keeps it whole
    chat.say(B3, "孙师傅", "报修 3号楼 电梯坏了")
    plain = chat.say(STAFF, "王社工", "/办结 2 2026年11月23日已修好")
    assert plain[0].text == "已办结 #2，已告知报告人。"
    assert plain[1].text.endswith("已处理：2026年11月23日已修好")
    never_a_full_phone_in_a_group(chat)


def test_summary_scopes_cover_area_reports_in_any_order_with_chinese_numerals(chat: Simulation) -> None:
    morning(chat)  # the 二片区群 report is an area report of 二片区 with no building
    chat.say(STAFF, "王社工", "片区报告 二片区 车棚电瓶车乱停")  # the area is named in the words
    chat.say("第2党支部", "赵党员", "片区报告 车棚顶漏雨")  # made in the branch's own room
    for asked in ("/汇总 本月 二片区", "/汇总 二片区 本月", "/汇总 本月二片区"):
        assert chat.say(STAFF, "王社工", asked)[0].text.startswith(
            "二片区 · 2026年11月（11-01至11-30）报告 2 条"
        ), asked
    assert chat.say(STAFF, "王社工", "/汇总 三号楼 11月")[0].text.startswith(
        "3号楼 · 2026年11月（11-01至11-30）报告 2 条"
    )
    assert chat.say(STAFF, "王社工", "/汇总 十一月 3号楼")[0].text.startswith("3号楼 · 2026年11月")
    assert chat.say(STAFF, "王社工", "/汇总 第二支部")[0].text.startswith(
        "第2支部 · 今天（11-23至11-23）报告 1 条"
    )
    assert chat.say(STAFF, "王社工", "/汇总 第9支部")[0].text == "没有第9支部：本居民区有第1至第8支部。"
    assert chat.say(STAFF, "王社工", "/汇总 三片区 本月")[0].text == "没有三片区：本居民区有一片区、二片区。"
