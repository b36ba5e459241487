"""The staff workbench over HTTP: login through WeChat, the board, reports and their actions,
CSRF, the query log — and the same records and messages as the chat commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bot.clock import VirtualClock
from bot.config import Config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from storage.models import QueryLog, Report, ReportEvent, WebLoginCode
from tests.conftest import MORNING
from tests.web_helpers import code_from_bot, csrf_of, log_in, post
from web.app import create_app

STAFF_ROOM = "居委工作群"
B3, B5 = "江南新村3号楼", "江南新村5号楼"


@pytest.fixture
def client(chat: Simulation, config: Config, engine: Engine, clock: VirtualClock) -> TestClient:
    return TestClient(create_app(config, engine, clock), follow_redirects=True)


def morning(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人 来自武汉 电话13812345678")
    chat.say(B5, "周老师", "登记 5号楼302 新搬来租户 一家三口")
    chat.say(B3, "郑老伯", "报修 3号楼楼道灯坏了")


# ------------------------------------------------------------------ login


def test_code_from_private_chat_logs_in_once(chat: Simulation, client: TestClient) -> None:
    assert client.get("/").url.path == "/login"
    code = code_from_bot(chat, "王社工")
    board = log_in(client, chat, "王社工", code)
    assert "各楼待办" in board and "王社工" in board
    with chat.bot.services.factory() as session:
        stored = session.scalars(select(WebLoginCode.code_hash)).all()
    assert code not in stored  # kept hashed
    other = TestClient(client.app, follow_redirects=True)
    again = other.post(
        "/login", data={"name": "王社工", "code": code, "csrf": csrf_of(other.get("/login").text)}
    )
    assert again.status_code == 400 and "登录码不对或已过期" in again.text


def test_code_expires_after_five_minutes(chat: Simulation, client: TestClient) -> None:
    code = code_from_bot(chat, "王社工")
    chat.wait(minutes=5, seconds=1)
    page = client.post(
        "/login", data={"name": "王社工", "code": code, "csrf": csrf_of(client.get("/login").text)}
    )
    assert page.status_code == 400 and "登录码不对或已过期" in page.text


def test_five_wrong_codes_lock_that_person_for_fifteen_minutes(chat: Simulation, client: TestClient) -> None:
    code = code_from_bot(chat, "王社工")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        page = client.post(
            "/login", data={"name": "王社工", "code": wrong, "csrf": csrf_of(client.get("/login").text)}
        )
        assert page.status_code == 400
    locked = client.post(
        "/login", data={"name": "王社工", "code": code, "csrf": csrf_of(client.get("/login").text)}
    )
    assert "15 分钟后再试" in locked.text
    chat.wait(minutes=15, seconds=1)
    log_in(client, chat, "王社工")  # a fresh code works once the lock is over


def test_residents_and_party_members_cannot_log_in(chat: Simulation, client: TestClient) -> None:
    assert chat.say(None, "张阿姨", "/登录")[0].text == "抱歉，/登录 仅限社工、管理员、楼组长使用。"
    assert "抱歉" in chat.say(None, "赵党员", "/登录")[0].text
    page = client.post(
        "/login", data={"name": "张阿姨", "code": "123456", "csrf": csrf_of(client.get("/login").text)}
    )
    assert page.status_code == 400


def test_code_is_never_sent_in_a_group(chat: Simulation) -> None:
    replies = chat.say(STAFF_ROOM, "王社工", "/登录")
    assert [r.text for r in replies] == ["为了安全，请私聊亲邻助手发送 /登录，登录码只发在私聊里。"]


def test_session_ends_at_logout_in_chat_and_at_midnight(chat: Simulation, client: TestClient) -> None:
    log_in(client, chat, "王社工")
    assert chat.say(None, "王社工", "/退出登录")[0].text == "已退出工作台登录（1 个浏览器）。"
    assert client.get("/").url.path == "/login"
    log_in(client, chat, "王社工")
    chat.advance_to(datetime.combine(MORNING.date() + timedelta(days=1), datetime.min.time(), MORNING.tzinfo))
    assert client.get("/").url.path == "/login"


def test_logout_button_ends_the_session(chat: Simulation, client: TestClient) -> None:
    board = log_in(client, chat, "王社工")
    page = client.get("/")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.post("/logout", data={"csrf": csrf_of(board)}).url.path == "/login"
    assert client.get("/").url.path == "/login"


def test_leader_sees_own_buildings_as_numbers_only(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    board = log_in(client, chat, "钱组长")
    assert 'title="3号楼：待办 2 条' in board and "5号楼" not in board
    assert "孙师傅" not in board and "#1" not in board
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/1").status_code == 403
    with chat.bot.services.factory() as session:
        assert not session.scalars(select(QueryLog).where(QueryLog.person_name == "钱组长")).all()


# ------------------------------------------------------------------ board and reports


def test_board_shows_buildings_today_and_overdue(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    chat.wait(days=4)
    chat.say(B5, "周老师", "报修 5号楼电梯坏了")
    board = log_in(client, chat, "王社工")
    assert 'class="cell late" title="3号楼：待办 2 条，最早 4 天前"' in board
    assert 'class="cell calm" title="1号楼：待办 0 条"' in board
    assert 'href="/reports/4"' in board.split("今日新报告")[2].split("超期未办结")[0]
    assert board.count('href="/reports/') >= 4


def test_report_list_filters_are_not_in_the_url(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    page = client.get("/reports")
    assert "共 3 条" in page.text and page.text.index("#3") < page.text.index("#1")
    filtered = client.post(
        "/reports/filter", data={"text": "孙师傅", "building": "3号楼", "csrf": csrf_of(page.text)}
    )
    assert filtered.url.path == "/reports" and not filtered.url.query
    assert "共 0 条" in filtered.text  # the name is the reporter's, not in the words
    filtered = client.post("/reports/filter", data={"text": "楼道灯", "csrf": csrf_of(page.text)})
    assert "共 1 条" in filtered.text and 'href="/reports/3"' in filtered.text
    filtered = client.post(
        "/reports/filter", data={"category": "repair", "building": "3", "csrf": csrf_of(page.text)}
    )
    assert "共 1 条" in filtered.text and 'href="/reports/3"' in filtered.text
    filtered = client.post("/reports/filter", data={"status": "resolved", "csrf": csrf_of(page.text)})
    assert "共 0 条" in filtered.text
    bad = client.post("/reports/filter", data={"period": "去年冬天", "csrf": csrf_of(page.text)})
    assert "没看懂时间段" in bad.text


def test_report_page_writes_the_query_log_as_chat_query_does(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    page = client.get("/reports/1")
    assert "孙师傅" in page.text and "3号楼201 返沪2人 来自武汉" in page.text
    chat.say(None, "王社工", "/查询 #1")
    with chat.bot.services.factory() as session:
        rows = session.scalars(select(QueryLog).where(QueryLog.arguments == "#1")).all()
    assert [(r.command, r.person_id, r.person_name, r.room_id) for r in rows] == [
        ("/查询", "wxid_王社工", "王社工", None)
    ] * 2


def test_post_without_csrf_token_is_refused(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    refused = client.post("/reports/3/resolve", data={"note": "已修好"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    refused = client.post("/reports/3/resolve", data={"note": "已修好", "csrf": "forged"})
    assert refused.status_code == 403
    with chat.bot.services.factory() as session:
        assert session.get(Report, 3).status == "open"


def test_correct_link_and_unlink_are_audited_with_the_staff_name(
    chat: Simulation, client: TestClient
) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    page = post(
        client,
        "/reports/1/correct",
        {"kind": "family", "category": "visitor", "building": "3", "unit": "302"},
        "/reports/1",
    )
    assert "已更正 #1：3号楼302室｜外来人员登记" in page.text
    page = post(client, "/reports/3/link", {"other": "2"}, "/reports/3")
    assert "已将 #3 与 #2 关联为同一问题" in page.text and 'href="/reports/2"' in page.text
    page = post(client, "/reports/3/unlink", {}, "/reports/3")
    assert "已将 #3 从关联问题中移出" in page.text
    bad = post(client, "/reports/3/correct", {"kind": "family", "building": "三"}, "/reports/3")
    assert "楼号只写数字" in bad.text
    with chat.bot.services.factory() as session:
        events = session.execute(
            select(ReportEvent.report_id, ReportEvent.action, ReportEvent.actor_name)
            .where(ReportEvent.action != "create")
            .order_by(ReportEvent.id)
        ).all()
    assert events == [
        (1, "correct", "王社工"),
        (3, "link", "王社工"),
        (2, "link", "王社工"),
        (3, "unlink", "王社工"),
    ]


# ------------------------------------------------------------------ one service under both faces


def _world(config: Config, tmp_path: Path, name: str) -> tuple[Simulation, TestClient]:
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    upgrade(engine)
    clock = VirtualClock(MORNING)
    spool = config.database.model_copy(update={"spool": str(tmp_path / f"{name}.spool.jsonl")})
    config = config.model_copy(update={"database": spool})
    chat = Simulation(build_application(config, engine, clock), clock)
    return chat, TestClient(create_app(config, engine, clock), follow_redirects=True)


def _records(chat: Simulation) -> list[tuple[object, ...]]:
    with chat.bot.services.factory() as session:
        reports = [
            (r.id, r.status, r.resolution, r.resolved_by, str(r.resolved_at))
            for r in session.scalars(select(Report))
        ]
        events = [
            (e.report_id, e.action, e.actor_name, e.changes) for e in session.scalars(select(ReportEvent))
        ]
    return reports + events


def test_resolve_on_the_page_and_in_chat_make_the_same_records_and_messages(
    config: Config, tmp_path: Path
) -> None:
    worlds = {}
    for face in ("chat", "web"):
        chat, client = _world(config, tmp_path, face)
        morning(chat)
        chat.say(B3, "冯阿姨", "报修 3号楼楼道灯坏了 晚上很黑")  # the same incident as #3
        log_in(client, chat, "王社工")
        before = len(chat.delivered)
        if face == "chat":
            chat.say(None, "王社工", "/办结 3 已换灯泡，王师傅电话13912345678")
        else:
            post(client, "/reports/3/resolve", {"note": "已换灯泡，王师傅电话13912345678"}, "/reports/3")
            chat.bot.outbox.due.recheck()  # the bot in another process asks the outbox again every 2 s
            chat.drain()
        told = [(d.room_topic, d.text, d.mention_ids) for d in chat.delivered[before:] if d.person_id is None]
        worlds[face] = (told, _records(chat))
    assert worlds["web"] == worlds["chat"]
    told = worlds["web"][0]
    assert (
        B3,
        "@郑老伯 您反映的#3（设施报修）已处理：已换灯泡，某师傅电话139****5678",
        ("wxid_郑老伯",),
    ) in told
    assert len(told) == 2  # both reporters of the incident, each once


# ------------------------------------------------------------------ notices


def test_notice_from_the_page_reaches_the_same_rooms_as_from_chat(config: Config, tmp_path: Path) -> None:
    sent = {}
    for face in ("chat", "web"):
        chat, client = _world(config, tmp_path, face)
        morning(chat)
        log_in(client, chat, "王社工")
        before = len(chat.delivered)
        if face == "chat":
            chat.say(None, "王社工", "#通知 3号楼、5号楼 明天上午9点停水，请提前储水。")
        else:
            page = post(
                client, "/notices/send", {"text": "3号楼、5号楼 明天上午9点停水，请提前储水。"}, "/notices"
            )
            assert "已排队发送 N1 至 2 个楼组群（3号楼、5号楼）" in page.text
            chat.bot.outbox.due.recheck()
            chat.drain()
        sent[face] = sorted((d.room_topic, d.text) for d in chat.delivered[before:] if d.room_id is not None)
    assert sent["web"] == sent["chat"]
    assert [topic for topic, _ in sent["web"]] == [B3, B5]
    assert sent["web"][0][1].endswith("N1｜王社工（社工）\n明天上午9点停水，请提前储水。\n——请回复“收到”确认")


def test_notice_page_shows_who_confirmed_and_recall_takes_it_back(
    chat: Simulation, client: TestClient
) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    post(client, "/notices/send", {"text": "3号楼 今晚电梯检修"}, "/notices")
    chat.bot.outbox.due.recheck()
    chat.drain()
    chat.say(B3, "孙师傅", "收到")
    page = client.get("/notices/1")
    assert "孙师傅" in page.text and "已送达" in page.text and 'id="recall"' in page.text
    with chat.bot.services.factory() as session:
        assert set(session.scalars(select(QueryLog.command).where(QueryLog.arguments == "N1")).all()) == {
            "/回执"
        }
    listing = client.get("/notices")
    assert "1/1 个群确认" in listing.text and "1 人" in listing.text
    page = post(client, "/notices/1/recall", {}, "/notices/1")
    assert "N1 撤回：1 个群正在撤回" in page.text
    chat.bot.outbox.due.recheck()
    chat.drain()
    assert [d for d in chat.delivered if d.recalls is not None and d.room_topic == B3]
    assert "已撤回" in client.get("/notices/1").text


def test_scheduled_notice_from_the_page_and_its_cancel(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    page = post(
        client, "/notices/schedule", {"when": "明天 8:00", "text": "全体 周六上午社区义诊"}, "/notices"
    )
    assert "已定时 N1：11月24日 08:00发送至全体楼组" in page.text and "周六上午社区义诊" in page.text
    page = post(client, "/notices/1/cancel", {}, "/notices")
    assert "已取消 N1。" in page.text
    bad = post(client, "/notices/send", {"text": "3号楼"}, "/notices")
    assert "通知内容是空的" in bad.text


# ------------------------------------------------------------------ people, charts, ledger


def test_people_page_lists_roles_and_rooms_and_imports_a_roster(chat: Simulation, client: TestClient) -> None:
    morning(chat)
    log_in(client, chat, "王社工")
    chat.say("新建群聊", "路人", "大家好")
    page = client.get("/people")
    assert "王社工" in page.text and "社工" in page.text and "钱组长" in page.text
    assert B3 in page.text and "新建群聊" in page.text and "未绑定" in page.text
    roster = "姓名,角色,楼号,室号\n陈阿婆,居民,7,101\n,居民,7,102\n"
    answer = client.post(
        "/people/import",
        data={"csrf": csrf_of(page.text)},
        files={"roster": ("名单.csv", roster.encode("utf-8"), "text/csv")},
    )
    assert "已导入 1 人，1 行有问题" in answer.text and "第3行" in answer.text
    assert "陈阿婆" in answer.text
    wrong = client.post(
        "/people/import",
        data={"csrf": csrf_of(page.text)},
        files={"roster": ("名单.txt", b"x", "text/plain")},
    )
    assert "名单只能是 CSV 或 XLSX 文件" in wrong.text
    # a file the reader refuses as a whole is said in the page's language too
    headless = client.post(
        "/people/import",
        data={"csrf": csrf_of(page.text)},
        files={"roster": ("名单.csv", "楼号,室号\n7,101\n".encode(), "text/csv")},
    )
    assert "名单没有导入：roster.csv 的第一行没有“姓名”一列" in headless.text


def test_charts_for_a_period_and_scope_and_the_ledger_download(chat: Simulation, client: TestClient) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    morning(chat)
    log_in(client, chat, "王社工")
    page = client.get("/charts", params={"period": "本周", "scope": "area:一片区"})
    assert 'src="data:image/png;base64,' in page.text
    assert "没看懂时间段" in client.get("/charts", params={"period": "去年冬天"}).text
    ledger = client.post("/charts/ledger", data={"period": "本月", "csrf": csrf_of(page.text)})
    assert ledger.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(BytesIO(ledger.content))
    assert book.sheetnames == ["汇总", "家庭报告", "楼组报告", "片区报告"]
    assert book["家庭报告"].max_row > 1  # the morning's family reports are in it
    with chat.bot.services.factory() as session:
        logged = session.execute(
            select(QueryLog.command, QueryLog.arguments).where(QueryLog.command.in_(("/图表", "/导出")))
        ).all()
    assert ("/导出", "本月") in logged and ("/图表", "本周 一片区") in logged


def test_leaders_see_no_notices_people_or_charts(chat: Simulation, client: TestClient) -> None:
    log_in(client, chat, "钱组长")
    for path in ("/notices", "/people", "/charts", "/notices/1"):
        assert client.get(path).status_code == 403


def test_report_list_counts_a_busy_period_only_up_to_its_cap(
    chat: Simulation, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.reports

    monkeypatch.setattr(web.reports, "COUNT_CAP", 2)
    morning(chat)
    log_in(client, chat, "王社工")
    page = client.get("/reports")
    assert "共 2+ 条" in page.text and page.text.count('href="/reports/') == 3


def test_correct_on_the_page_and_in_chat_make_the_same_records(config: Config, tmp_path: Path) -> None:
    records = {}
    for face in ("chat", "web"):
        chat, client = _world(config, tmp_path, face)
        morning(chat)
        log_in(client, chat, "王社工")
        if face == "chat":
            reply = chat.say(None, "王社工", "更正 1 302室")[0].text
        else:
            reply = post(
                client,
                "/reports/1/correct",
                {"kind": "family", "category": "return", "building": "3", "unit": "302"},
                "/reports/1",
            ).text
        assert "已更正 #1：3号楼302室｜返沪登记｜2人｜来自武汉" in reply
        records[face] = _records(chat)
    assert records["web"] == records["chat"]


def test_only_a_bound_staff_member_gets_a_login_code(
    shipped_config: Config, engine: Engine, clock: VirtualClock, tmp_path: Path
) -> None:
    from tests.conftest import bind_by_code

    database = shipped_config.database.model_copy(update={"spool": str(tmp_path / "spool.jsonl")})
    unbound = shipped_config.model_copy(
        update={"database": database, "exports_dir": str(tmp_path / "exports")}
    )
    chat = Simulation(build_application(unbound, engine, clock), clock)
    client = TestClient(create_app(unbound, engine, clock), follow_redirects=True)
    refused = chat.say(None, "王社工", "/登录")[0].text
    assert "登录码" not in refused  # a display name alone proves nothing
    page = client.post(
        "/login", data={"name": "王社工", "code": "123456", "csrf": csrf_of(client.get("/login").text)}
    )
    assert page.status_code == 400
    bind_by_code(chat, "王社工")
    log_in(client, chat, "王社工")
