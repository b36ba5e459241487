"""Roster import (bad rows reported by line, good ones kept) and the purge of personal fields."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from bot.purge import purge_personal_fields
from bot.roster import import_roster_file
from bot.transports.simulated import Simulation
from storage.db import unit_of_work
from storage.models import IncomingRecord, Person, Report, ReportEvent

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
    assert result.errors == ["line 4: 姓名为空", "line 5: 未知角色“主任”"]
    with chat.bot.services.factory() as session:
        chen = session.scalar(select(Person).where(Person.name == "陈先生"))
        assert (chen.building, chen.unit) == ("3", "101")
    # matched by alias (微信名): 孙大哥 is now the leader of building 5
    assert chat.say("江南新村5号楼", "孙大哥", "/汇总")[0].text.startswith("5号楼 · 今天")
    assert chat.say("江南新村3号楼", "陈先生", "求助 需要买菜")[0].text.startswith("已登记 家庭报告 #1：3号楼101室")


def test_xlsx_roster_through_the_cli(tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["姓名", "微信号", "角色", "支部"])
    book.active.append(["赵党员", "wxid_zhao", "党员", 2])
    book.active.append(["钱组长", "wxid_qian", "超人", None])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    result = subprocess.run([sys.executable, "-m", "bot", "roster", "import", str(path), "--db",
                             f"sqlite:///{tmp_path / 'r.db'}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1
    assert "imported 1 people, 1 rows with errors" in result.stdout
    assert "line 3: 未知角色“超人”" in result.stderr


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
