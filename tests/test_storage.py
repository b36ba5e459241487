"""Storage on SQLite and PostgreSQL: migrations match the models, SQLite pragmas, and a
message delivered twice is acted on once."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from bot.transports.simulated import Simulation
from storage.db import check_migrated, upgrade
from storage.models import Base, IncomingRecord, Report, ReportEvent


def test_migrations_create_exactly_the_models(engine) -> None:
    upgrade(engine)
    check_migrated(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_sqlite_runs_in_wal_with_foreign_keys(engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_message_delivered_twice_is_acted_on_once(chat: Simulation) -> None:
    message = chat.message("#家庭报告 3号楼201 返沪2人 来自武汉", "张阿姨", "江南新村3号楼", message_id="wx-1")
    chat.feed(message)
    chat.feed(message)
    chat.drain()
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
        assert session.scalar(select(func.count()).select_from(IncomingRecord)) == 1
        assert session.scalar(select(func.count()).select_from(ReportEvent)) == 1
    assert len([d for d in chat.delivered if d.text.startswith("已登记")]) == 1
