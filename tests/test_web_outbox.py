"""A message queued from the workbench in another process leaves through the bot's WeChat pump
within 5 seconds, and exactly once (the bot cannot be woken across processes: it looks again)."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.clock import SHANGHAI, SystemClock
from bot.config import Config
from bot.identity import resolve_identity
from bot.message import IncomingMessage
from bot.services.login import issue_login_code
from handlers import build_application
from storage.db import unit_of_work
from tests.test_faults import FakeRoom, until
from tests.web_helpers import csrf_of
from web.app import create_app


async def test_feedback_queued_by_the_page_is_sent_by_the_other_process_within_five_seconds(
    config: Config, engine: Engine
) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    outbox = config.outbox.model_copy(update={"quiet_hours": None})  # whatever the hour the test runs at
    config = config.model_copy(update={"reminders": [], "outbox": outbox})
    clock = SystemClock(SHANGHAI)
    bot = build_application(config, engine, clock)
    transport = WechatyTransport(bot, config)
    said: list[str] = []
    transport.sdk = SimpleNamespace(Room=SimpleNamespace(load=lambda room_id: FakeRoom(said)))
    transport.logged_in.set()
    report = IncomingMessage(
        message_id="m1",
        sent_at=clock.now(),
        sender_id="wxid_郑老伯",
        sender_name="郑老伯",
        text="报修 3号楼楼道灯坏了",
        room_id="room_3",
        room_topic="江南新村3号楼",
    )
    await asyncio.to_thread(bot.handle, report)
    pump = asyncio.create_task(transport.pump())
    try:
        assert await until(lambda: len(said) == 1)  # the confirmation: the pump is running
        desk = TestClient(create_app(config, engine, clock), follow_redirects=True)  # its own sessions

        def close_on_the_page() -> None:
            with unit_of_work(bot.services.factory) as session:
                who = resolve_identity(session, "wxid_王社工", "王社工", None, clock.now())
                code = str(issue_login_code(session, config, who, True, clock.now()).notes["code"])
            board = desk.post(
                "/login", data={"name": "王社工", "code": code, "csrf": csrf_of(desk.get("/login").text)}
            )
            page = desk.post("/reports/1/resolve", data={"note": "已换灯泡", "csrf": csrf_of(board.text)})
            assert "已办结 #1" in page.text

        await asyncio.to_thread(close_on_the_page)
        assert await until(lambda: len(said) == 2, seconds=5)
        assert re.fullmatch(
            r"(@郑老伯 )?您反映的#1（.+）已处理：已换灯泡", said[1]
        )  # the mention rides with the send
        # nothing left to send: the feedback is written down as sent, so the pump's next looks
        # cannot send it again (a row queued twice would be sent before this holds)
        assert await until(lambda: bot.outbox.pending_count() == 0, seconds=5)
        assert len(said) == 2
    finally:
        transport.stopping.set()
        transport.wake.set()
        await asyncio.gather(pump)
        transport.alarms.shutdown()
