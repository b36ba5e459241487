"""The workbench in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser). Logs in with the code the bot sent in private chat, closes a report, sends and recalls
a notice, downloads the ledger; screenshots of every page go to tests/artifacts/web/.

Skips when Chromium or Playwright is missing on a developer's machine; in CI (CI=true) it must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from bot.clock import VirtualClock
from bot.config import Config
from bot.transports.simulated import Simulation
from tests.web_helpers import code_from_bot
from web.serve import bind, serve_in_thread, server_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "web"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
B3 = "江南新村3号楼"


def _browser_or_skip() -> object:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = (
        "playwright is not installed"
        if sync_playwright is None
        else (f"{CHROMIUM} is missing (apt-get install chromium)" if not CHROMIUM.exists() else "")
    )
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test must run in CI: {missing}")
        pytest.skip(f"browser test skipped: {missing}")
    return sync_playwright


@pytest.fixture
def served(chat: Simulation, config: Config, engine: Engine, clock: VirtualClock) -> Iterator[str]:
    """The workbench on a real socket, on the test's database and virtual clock."""
    sock = bind("127.0.0.1", 0)
    server = server_for(config, engine, clock)
    thread = serve_in_thread(server, sock)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_staff_day_in_the_browser(chat: Simulation, served: str, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人 来自武汉 电话13812345678")
    chat.say("江南新村5号楼", "周老师", "登记 5号楼302 新搬来租户 一家三口")
    chat.say(B3, "郑老伯", "报修 3号楼楼道灯坏了")
    code = code_from_bot(chat, "王社工")

    def outbox_runs() -> None:  # the bot, as in another process: asks the outbox again, sends
        chat.bot.outbox.due.recheck()
        chat.drain()

    with sync_playwright() as playwright:  # type: ignore[operator]
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1366, "height": 768},
            accept_downloads=True,
            locale="zh-CN",
        )
        try:
            page = context.new_page()
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{served}/")
            assert page.url.endswith("/login")
            page.screenshot(path=str(ARTIFACTS / "01-login.png"), full_page=True)
            page.fill("input[name=name]", "王社工")
            page.fill("input[name=code]", code)
            page.click("button[type=submit]")
            page.wait_for_selector("text=各楼待办")
            assert "王社工（社工）" in page.inner_text("header")
            page.screenshot(path=str(ARTIFACTS / "02-board.png"), full_page=True)

            page.click("nav >> text=报告")
            page.wait_for_selector("table.reports")
            page.screenshot(path=str(ARTIFACTS / "03-reports.png"), full_page=True)
            page.click("table.reports >> text=#3")
            page.wait_for_selector("#resolve")
            page.screenshot(path=str(ARTIFACTS / "04-report.png"), full_page=True)
            page.fill("#resolve textarea[name=note]", "已换灯泡")
            page.click("#resolve button[type=submit]")
            page.wait_for_selector("text=已办结 #3")
            page.screenshot(path=str(ARTIFACTS / "05-resolved.png"), full_page=True)
            outbox_runs()
            told = [d for d in chat.delivered if d.room_topic == B3 and "已处理" in d.text]
            assert [d.text for d in told] == ["@郑老伯 您反映的#3（设施报修）已处理：已换灯泡"]

            page.click("nav >> text=通知")
            page.fill("#send textarea[name=text]", "3号楼 今晚8点电梯检修，请走楼梯。")
            page.click("#send button[type=submit]")
            page.wait_for_selector("text=已排队发送 N1")
            outbox_runs()
            page.reload()
            page.wait_for_selector("text=已送达")
            page.screenshot(path=str(ARTIFACTS / "06-notice.png"), full_page=True)
            page.click("#recall button[type=submit]")
            page.wait_for_selector("text=N1 撤回")
            outbox_runs()
            assert [d for d in chat.delivered if d.recalls is not None and d.room_topic == B3]
            page.click("nav >> text=通知")
            page.screenshot(path=str(ARTIFACTS / "07-notices.png"), full_page=True)

            page.click("nav >> text=人员与群")
            page.wait_for_selector("text=导入名单")
            page.screenshot(path=str(ARTIFACTS / "08-people.png"), full_page=True)

            page.click("nav >> text=图表与台帐")
            page.wait_for_selector("img.chart")
            page.screenshot(path=str(ARTIFACTS / "09-charts.png"), full_page=True)
            with page.expect_download() as download_info:
                page.click("#ledger button[type=submit]")
            ledger = tmp_path / "ledger.xlsx"
            download_info.value.save_as(str(ledger))
            assert len(load_workbook(ledger).sheetnames) >= 2

            page.set_viewport_size({"width": 390, "height": 844})  # a phone
            page.click("nav >> text=今日")
            page.wait_for_selector("text=各楼待办")
            page.screenshot(path=str(ARTIFACTS / "10-board-phone.png"), full_page=True)
            page.click("nav >> text=报告")
            page.screenshot(path=str(ARTIFACTS / "11-reports-phone.png"), full_page=True)
        finally:
            context.close()
