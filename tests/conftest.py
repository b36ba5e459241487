"""Shared fixtures: the shipped config, a fresh database (SQLite always, PostgreSQL when
QINLIN_TEST_PG_URL is set), a bot on a virtual clock and a chat simulation to talk to it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.app import Bot
from bot.clock import SHANGHAI, VirtualClock
from bot.config import Config, load_config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("QINLIN_TEST_PG_URL")
MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # a Monday in 江南新村


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"qinlin: storage and scenario tests run on SQLite and PostgreSQL ({PG_URL})"
    return "qinlin: PostgreSQL skipped (set QINLIN_TEST_PG_URL to run the storage tests on it too)"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qinlin.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL skipped: QINLIN_TEST_PG_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def shipped_config() -> Config:
    return load_config(ROOT / "config.yaml")


@pytest.fixture
def config(shipped_config: Config, tmp_path: Path) -> Config:
    """The shipped config.yaml, exports into a temporary folder."""
    database = shipped_config.database.model_copy(update={"spool": str(tmp_path / "spool.jsonl")})
    return shipped_config.model_copy(update={"exports_dir": str(tmp_path / "exports"), "database": database})


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The fresh database, migrated: bots refuse an unmigrated one."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(MORNING)


@pytest.fixture
def bot(config: Config, engine: Engine, clock: VirtualClock) -> Bot:
    return build_application(config, engine, clock)


@pytest.fixture
def chat(bot: Bot, clock: VirtualClock) -> Simulation:
    """Talk to the bot as residents do: ``chat.say("江南新村3号楼", "张阿姨", "#家庭报告 …")``."""
    return Simulation(bot, clock)
