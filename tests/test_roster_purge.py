"""Roster import (bad rows reported by line, good ones kept) and the purge of personal fields."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.app import Bot
from bot.purge import purge_personal_fields
from bot.roster import RosterFileError, RosterImport, import_roster_file
from bot.texts import ROSTER_PROBLEMS
from bot.transports.simulated import Simulation
from storage.db import unit_of_work
from storage.models import IncomingRecord, NoticeAck, OutboxMessage, Person, Report, ReportEvent
from tests.conftest import bind_by_code
from web.people import roster_line

ROOT = Path(__file__).resolve().parent.parent


def test_csv_roster_imports_good_rows_and_names_bad_lines(chat: Simulation, tmp_path: Path) -> None:
    roster = tmp_path / "花名册.csv"
    roster.write_text(
        "姓名,微信名,角色,楼号,室号,支部\n孙师傅,孙大哥,楼组长,5,,\n周老师,,党员,,,第3支部\n,无名,居民,3,201,\n吴阿姨,,主任,,,\n陈先生,,居民,3号楼,101室,\n",
        encoding="gb18030",
    )
    with unit_of_work(chat.bot.services.factory) as session:
        result = import_roster_file(session, roster, chat.clock.now())
    assert result.imported == 3
    assert _said(result) == ["第4行：姓名为空", "第5行：未知角色“主任”"]
    with chat.bot.services.factory() as session:
        chen = session.scalar(select(Person).where(Person.name == "陈先生"))
        assert (chen.building, chen.unit) == ("3", "101")
    # matched by alias (微信名), but a name proves nothing: the leader is told how to bind, then is one
    assert (
        "您在名册中是楼组长，但这个微信号还没有绑定" in chat.say("江南新村5号楼", "孙大哥", "/汇总")[0].text
    )
    assert bind_by_code(chat, "孙师傅", "wxid_孙大哥").startswith("绑定成功：您是 孙师傅（楼组长）")
    assert chat.say("江南新村5号楼", "孙大哥", "/汇总")[0].text.startswith("5号楼 · 今天")
    assert chat.say("江南新村3号楼", "陈先生", "求助 需要买菜")[0].text.startswith(
        "已登记 家庭报告 #1：3号楼101室"
    )


def test_xlsx_roster_through_the_cli(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["姓名", "微信号", "角色", "支部"])
    book.active.append(["赵党员", "wxid_zhao", "党员", 2])
    book.active.append(["钱组长", "wxid_qian", "超人", None])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "roster",
            "import",
            str(path),
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == "imported 1 person; 1 row not imported\n"
    # the operator reads English, one line per row; the cell's own value is quoted as written
    assert result.stderr.splitlines() == ["  line 3: unknown role '超人' in 角色"]


def _said(result: RosterImport) -> list[str]:
    """The import's row problems as the staff read them on the web page."""
    return [roster_line(problem) for problem in result.errors]


def _import(bot: Bot, path: Path) -> RosterImport:
    with unit_of_work(bot.services.factory) as session:
        return import_roster_file(session, path, bot.services.clock.now())


def _roster_people(bot: Bot) -> list[tuple[str, str | None, str | None, str | None]]:
    """(姓名, 微信号, 楼号, 负责楼号) of everyone the roster wrote, in the order written."""
    with bot.services.factory() as session:
        people = session.scalars(select(Person).where(Person.source == "roster").order_by(Person.id))
        return [(p.name, p.wechat_id, p.building, p.buildings) for p in people]


def test_leader_bad_building_range_costs_only_that_line(bot: Bot, tmp_path: Path) -> None:
    roster = tmp_path / "组长.csv"
    roster.write_text(
        "姓名,角色,楼号,负责楼号\n孙组长,楼组长,,3-5号楼\n倒序,楼组长,,5-3\n字母,楼组长,,abc\n"
        "太远,楼组长,,1-99999999\n周组长,楼组长,7,\n零号,楼组长,0,\n",
        encoding="utf-8",
    )
    result = _import(bot, roster)
    assert _said(result) == [
        "第3行：负责楼号应为楼号或范围（如 3、3,5 或 1-6）“5-3”",
        "第4行：负责楼号应为楼号或范围（如 3、3,5 或 1-6）“abc”",
        "第5行：负责楼号应为楼号或范围（如 3、3,5 或 1-6）“1-99999999”",
        "第7行：楼号超出范围“0”",
    ]
    assert result.imported == 2
    assert _roster_people(bot) == [("孙组长", None, None, "3,4,5"), ("周组长", None, "7", "7")]


def test_csv_field_over_the_limit_refuses_the_file_in_one_line(bot: Bot, tmp_path: Path) -> None:
    roster = tmp_path / "引号.csv"  # an unclosed quote swallows the rest of the file into one cell
    roster.write_text('姓名,室号\n孙师傅,101\n"周老师,102\n' + "吴阿姨,103\n" * 20000, encoding="utf-8")
    with pytest.raises(RosterFileError) as refused:
        _import(bot, roster)
    assert refused.value.problem.say(ROSTER_PROBLEMS).startswith(
        "引号.csv 第3行：单元格超过 128 KB，多半是引号没有配对"
    )
    assert _roster_people(bot) == []


def test_folder_or_bad_file_is_one_line_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "花名册.csv").mkdir()
    (tmp_path / "大.csv").write_text('姓名\n"' + "张" * 200_000 + "\n", encoding="utf-8")
    for name, message in (
        ("花名册.csv", "花名册.csv is a folder, not a roster file"),
        ("大.csv", "大.csv: line 2: a cell is over 128 KB, most likely a quote left open; check this line"),
    ):
        command = [
            sys.executable,
            "-m",
            "bot",
            "roster",
            "import",
            str(tmp_path / name),
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
        ]
        result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"qinlin: {message}"), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback


def test_repeated_person_is_reported_and_counted_once(bot: Bot, tmp_path: Path) -> None:
    roster = tmp_path / "重复.csv"
    roster.write_text(
        "姓名,微信号,角色,楼号\n张三,,居民,3\n张三,,党员,4\n张三,,居民,5\n"
        "李四,wx_li,居民,6\n王五,wx_li,居民,7\n"
        "赵六,wx_zhao6,居民,8\n赵六,wx_zhao6b,居民,9\n",
        encoding="utf-8",
    )
    result = _import(bot, roster)
    assert _said(result) == [
        "第3行：张三 已在第 2 行出现，本行未导入（同一人请删去重复行，同名的两人请各填微信号）",
        "第4行：张三 已在第 2 行出现，本行未导入（同一人请删去重复行，同名的两人请各填微信号）",
        "第6行：微信号“wx_li”已在第 5 行（李四）出现，本行未导入",
    ]
    # the first line of each stands; two 赵六 with their own 微信号 are two people
    people = [
        ("张三", None, "3", None),
        ("李四", "wx_li", "6", None),
        ("赵六", "wx_zhao6", "8", None),
        ("赵六", "wx_zhao6b", "9", None),
    ]
    assert result.imported == 4 and _roster_people(bot) == people
    again = _import(bot, roster)  # a re-import updates in place, and reports the same lines
    assert (again.imported, _said(again)) == (4, _said(result)) and _roster_people(bot) == people


def test_uncalculated_formula_cell_is_named_not_called_empty(bot: Bot, tmp_path: Path) -> None:
    book = Workbook()  # openpyxl, like most programs, saves formulas without a calculated value
    book.active.append(["姓名", "角色", "楼号"])
    book.active.append(['="张"&"三"', "居民", 3])
    book.active.append(["李四", '="党员"', 4])
    book.active.append([None, "居民", 5])
    book.active.append(["王五", "居民", 6])
    path = tmp_path / "公式.xlsx"
    book.save(path)
    result = _import(bot, path)
    assert _said(result) == [
        "第2行：姓名是公式，文件里没有算好的值，请在Excel里粘贴为数值后再导入",
        "第3行：角色是公式，文件里没有算好的值，请在Excel里粘贴为数值后再导入",
        "第4行：姓名为空",
    ]
    assert result.imported == 1 and _roster_people(bot) == [("王五", None, "6", None)]


def test_values_the_database_would_refuse_are_line_errors(bot: Bot, tmp_path: Path) -> None:
    # PostgreSQL refuses text longer than the column or holding NUL, and with it the whole import
    roster = tmp_path / "长.csv"
    roster.write_text(
        f"姓名,微信号,角色,室号,负责楼号\n{'张' * 65},,居民,,\n李四,{'w' * 129},居民,,\n"
        f"王五,,居民,{'1' * 17},\n赵\x00六,,居民,,\n钱组长,,楼组长,,1-200\n孙七,,居民,,\n",
        encoding="utf-8",
    )
    result = _import(bot, roster)
    assert _said(result) == [
        "第2行：姓名太长（最多 64 个字）",
        "第3行：微信号太长（最多 128 个字）",
        "第4行：室号应为 1 至 4 位数字（如 201、1201）“11111111111111111”",
        "第5行：姓名里有空字符（\\x00），请检查这一格",
    ]
    # a leader's buildings are a text column now: 1-200 fits (a range is bounded at 1000 buildings)
    leader, other = _roster_people(bot)
    assert result.imported == 2 and other == ("孙七", None, None, None)
    assert leader[0] == "钱组长" and leader[3] is not None and len(leader[3].split(",")) == 200


def test_purge_keeps_counts_and_removes_personal_fields(chat: Simulation) -> None:
    chat.say("江南新村3号楼", "孙师傅", "#家庭报告 3号楼201 返沪2人 来自武汉 电话13812345678")
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    chat.wait(days=30)
    with unit_of_work(chat.bot.services.factory) as session:
        count = purge_personal_fields(session, timedelta(days=28), ["return", "health"], chat.clock.now())
    assert count == 1
    with chat.bot.services.factory() as session:
        returned, repair = session.scalars(select(Report).order_by(Report.id)).all()
        assert (returned.phone, returned.unit, returned.reporter_name) == (None, None, "（已清除）")
        assert (returned.building, returned.people, returned.category) == ("3", 2, "return")
        assert "13812345678" not in returned.raw_text and returned.personal_data_purged_at is not None
        assert repair.reporter_name == "郑老伯"  # other categories untouched
        for event in session.scalars(select(ReportEvent).where(ReportEvent.report_id == returned.id)):
            assert "13812345678" not in str(event.changes) and "'201'" not in str(event.changes)
        texts = session.scalars(select(IncomingRecord.text)).all()
        assert not any("13812345678" in text for text in texts)
    assert "返沪登记人数：2 人" in chat.say("居委工作群", "王社工", "/汇总 近31天")[0].text


def test_purge_leaves_no_copy_of_a_phone_a_name_or_a_room(chat: Simulation) -> None:
    planted = ("13912345678", "冯阿姨", "302")
    chat.say("居委工作群", "王社工", "大家好")
    chat.say("江南新村3号楼", "冯阿姨", "#家庭报告 3号楼302 返沪1人 来自江西 电话13912345678")
    chat.say("居委工作群", "王社工", "#通知 3号楼 请返沪人员居家监测")
    chat.say("江南新村3号楼", "冯阿姨", "收到")
    chat.say("居委工作群", "王社工", "/查询 3号楼302")
    chat.say("居委工作群", "王社工", "/办结 1 已联系冯阿姨 13912345678，3号楼302室居家监测")
    chat.wait(days=30)
    with unit_of_work(chat.bot.services.factory) as session:
        assert purge_personal_fields(session, timedelta(days=28), ["return"], chat.clock.now()) == 1
    with chat.bot.services.factory() as session:
        report = session.scalars(select(Report)).one()
        places = {
            "report": [
                report.raw_text,
                report.phone,
                report.unit,
                report.contact_name,
                report.reporter_name,
                report.resolution,
            ],
            "incoming messages": list(session.scalars(select(IncomingRecord.text))),
            "audit": [
                f"{event.actor_name} {event.changes}" for event in session.scalars(select(ReportEvent))
            ],
            "outbox": list(session.scalars(select(OutboxMessage.text))),
            "收到": list(session.scalars(select(NoticeAck.person_name))),
        }
        assert (report.building, report.people, report.category, report.status) == (
            "3",
            1,
            "return",
            "resolved",
        )
    for place, texts in places.items():
        for text in texts:
            assert not any(value in str(text) for value in planted), (place, text)


def test_roster_rows_are_checked_against_the_config(chat: Simulation, config, tmp_path: Path) -> None:
    roster = tmp_path / "花名册.csv"
    roster.write_text(
        "姓名,角色,楼号,室号,支部\n甲,居民,3,1000000000000000,\n乙,党员,,,99\n丙,居民,5000,201,\n"
        "丁,党员,,,第九支部\n戊,居民,3,201,\n己,党员,8,1201室,第2支部\n",
        encoding="utf-8",
    )
    with unit_of_work(chat.bot.services.factory) as session:
        result = import_roster_file(session, roster, chat.clock.now(), config=config)
    assert _said(result) == [
        "第2行：室号应为 1 至 4 位数字（如 201、1201）“1000000000000000”",
        "第3行：没有第99支部（本居民区有第1至第8支部）",
        "第4行：楼号超出范围“5000”",
        "第5行：没有第9支部（本居民区有第1至第8支部）",
    ]
    assert result.imported == 2


def test_purge_from_the_cli_says_what_it_did_in_one_line(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bot",
        "purge",
        "--older-than",
        "28d",
        "--db",
        f"sqlite:///{tmp_path / 'p.db'}",
    ]
    result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "personal fields removed from 0 reports\n",
        "",
    )
    refused = subprocess.run(
        [*command, "--categories", "return,flu"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert refused.returncode == 2 and refused.stderr.startswith(
        "qinlin: unknown categories flu; the codes are "
    )
    assert refused.stderr.count("\n") == 1
