"""Storage on SQLite and PostgreSQL: migrations match the models, SQLite pragmas, and a
message delivered twice is acted on once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from bot.app import GENERIC_FAILURE, build_bot
from bot.clock import SHANGHAI, SystemClock
from bot.context import Ctx
from bot.message import IncomingMessage
from bot.parsing import load_vocabulary, shared_parser
from bot.router import Router
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import DatabaseNotMigrated, check_migrated, make_engine, upgrade
from storage.models import Base, IncomingRecord, OutboxMessage, Report, ReportEvent


def test_migrations_create_exactly_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)  # empty: the migrations build every table from nothing
    with pytest.raises(DatabaseNotMigrated):
        check_migrated(engine)
    upgrade(engine)
    check_migrated(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_a_message_delivered_twice_is_acted_on_once(chat: Simulation) -> None:
    message = chat.message(
        "#家庭报告 3号楼201 返沪2人 来自武汉", "张阿姨", "江南新村3号楼", message_id="wx-1"
    )
    chat.feed(message)
    chat.feed(message)
    chat.drain()
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
        assert session.scalar(select(func.count()).select_from(IncomingRecord)) == 1
        assert session.scalar(select(func.count()).select_from(ReportEvent)) == 1
    assert len([d for d in chat.delivered if d.text.startswith("已登记")]) == 1


def test_a_burst_on_worker_threads_stores_every_report_once(config, engine) -> None:
    """As `qinlin run` handles messages: concurrently, one unit of work each, on both databases.
    Nothing is lost to lock waits and nobody gets the generic failure line."""
    bot = build_application(config.model_copy(update={"reminders": []}), engine, SystemClock(SHANGHAI))
    now = SystemClock(SHANGHAI).now()
    messages = [
        IncomingMessage(
            message_id=f"b{n}",
            sent_at=now,
            sender_id=f"wxid_{n}",
            sender_name=f"居民{n}",
            text=f"#家庭报告 {n % 20 + 1}号楼{n % 6 + 1}01 返沪{n % 3 + 1}人",
            room_id=f"room_{n % 20 + 1}",
            room_topic=f"江南新村{n % 20 + 1}号楼",
        )
        for n in range(300)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(bot.handle, messages + messages[:50]))  # the first 50 delivered twice
    with bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 300
        texts = session.scalars(select(OutboxMessage.text)).all()
    assert len(texts) == 300 and GENERIC_FAILURE not in texts


def test_a_handlers_own_constraint_error_keeps_the_message_and_apologises(config, engine, clock) -> None:
    """Only a repeated WeChat message id is a duplicate delivery; any other IntegrityError is a
    failure: the message is kept and the sender gets the apology, not silence."""
    router = Router()

    @router.command("登记门牌", priority=10)
    def clashing(ctx: Ctx, _: str) -> str:
        for _ in range(2):  # the same key twice: the handler's own unique constraint fails at flush
            ctx.session.add(
                IncomingRecord(
                    message_id="clash",
                    room_id=None,
                    sender_id="x",
                    sender_name="x",
                    type="text",
                    text="",
                    sent_at=ctx.now,
                    received_at=ctx.now,
                )
            )
        ctx.session.flush()
        return "不会到这里"

    bot = build_bot(config, engine, clock, router=router, jobs=[], parser=shared_parser(load_vocabulary()))
    chat = Simulation(bot, clock)
    replies = chat.say("江南新村3号楼", "张阿姨", "/登记门牌 3号楼201")
    assert [reply.text for reply in replies] == [GENERIC_FAILURE]
    with bot.services.factory() as session:
        kept = session.scalars(select(IncomingRecord.text)).all()
    assert kept == ["/登记门牌 3号楼201"]
