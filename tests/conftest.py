"""Shared fixtures: the shipped config, a fresh database (SQLite always, PostgreSQL when
QINLIN_TEST_PG_URL is set), a bot on a virtual clock and a chat simulation to talk to it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.app import Bot
from bot.clock import SHANGHAI, VirtualClock
from bot.config import Config, RoomRule, load_config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from storage.models import Base

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("QINLIN_TEST_PG_URL")
MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # a Monday in 江南新村


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`python -m pytest` (the whole suite, from testpaths) runs on every core with pytest-xdist:
    most of an end-to-end test is waiting, and the other worker's tests fill it. A run of chosen
    files or tests, or one that says ``-n`` itself (``-n 0``: in this process), stays as asked —
    starting workers costs more than a few tests take. PYTEST_XDIST_AUTO_NUM_WORKERS sets the count.
    Each worker has its own session fixtures: its SQLite template, its PostgreSQL schema. A worker
    is handed the same arguments with ``-n`` cleared: it must not start workers of its own."""
    if (
        config.args_source is pytest.Config.ArgsSource.TESTPATHS
        and not hasattr(config, "workerinput")
        and "PYTEST_XDIST_WORKER" not in os.environ
        and getattr(config.option, "numprocesses", "absent") is None
        and config.option.dist == "no"
    ):
        config.option.numprocesses = "auto"


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"qinlin: storage and scenario tests run on SQLite and PostgreSQL ({PG_URL})"
    return "qinlin: PostgreSQL skipped (set QINLIN_TEST_PG_URL to run the storage tests on it too)"


def _schema_url(schema: str) -> str:
    separator = "&" if "?" in (PG_URL or "") else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def _private_schema() -> Iterator[str]:
    """A schema of our own on the PostgreSQL server, dropped afterwards (parallel runs do not collide)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL or "")
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _skip_without_postgresql() -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL skipped: QINLIN_TEST_PG_URL is not set")


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session; each test gets a copy (Alembic per test cost ~0.8 s of CPU)."""
    path = tmp_path_factory.mktemp("template") / "qinlin.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection checkpoints the WAL: the file alone is the database
    return path


@pytest.fixture(scope="session")
def migrated_pg_url() -> Iterator[str]:
    """One migrated schema per session; each test starts from it emptied (see _emptied)."""
    _skip_without_postgresql()
    with _private_schema() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _emptied(url: str) -> None:
    """Every row gone and every id sequence back at 1: as good as a new schema, in a fraction of
    the time of migrating one. A lock left by a test that did not close its engine fails loudly."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '20s'"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        sequences = connection.scalars(
            text(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()"
            )
        )
        for sequence in list(sequences):
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows: a copy of the session's SQLite template, or the session's
    PostgreSQL schema emptied."""
    if request.param == "sqlite":
        path = tmp_path / "qinlin.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("migrated_pg_url")
    _emptied(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even the migrations: for the tests of migrating."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    _skip_without_postgresql()
    with _private_schema() as url:
        yield url


@pytest.fixture(scope="session")
def shipped_config() -> Config:
    return load_config(ROOT / "config.yaml")


def sender_id(name: str) -> str:
    """The contact id a Simulation gives a speaker by default."""
    return f"wxid_{name}"


# The staff and party rooms the tests talk in, by the id Simulation gives a topic: a topic alone
# never makes such a room (anyone can name a group 工作群), a config entry naming the id does.
TEST_ROOM_IDS = [
    RoomRule(id="room_居委工作群", role="staff"),
    RoomRule(id="room_第2党支部", role="branch", branch=2),
    RoomRule(id="room_江南新村党总支", role="general"),
]


def bind_privileged_people(config: Config) -> Config:
    """The shipped config names its staff but not their WeChat ids, nor its rooms': a site binds
    them by code and /绑定. Tests speak as ``wxid_<name>`` (Simulation's default), so each person
    above resident is bound to that id here, and the tests' staff and party rooms by their ids, as
    a site that knows the ids writes them into config.yaml."""
    people = [
        person
        if person.role == "resident" or person.wechat_id
        else person.model_copy(update={"wechat_id": sender_id(person.name)})
        for person in config.people
    ]
    return config.model_copy(update={"people": people, "rooms": [*TEST_ROOM_IDS, *config.rooms]})


@pytest.fixture
def config(shipped_config: Config, tmp_path: Path) -> Config:
    """The shipped config.yaml with its privileged people bound to the tests' sender ids, exports
    into a temporary folder. Tests of binding itself start from ``shipped_config``."""
    database = shipped_config.database.model_copy(update={"spool": str(tmp_path / "spool.jsonl")})
    return bind_privileged_people(shipped_config).model_copy(
        update={"exports_dir": str(tmp_path / "exports"), "database": database}
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The migrated, empty database (bots refuse an unmigrated one)."""
    engine = make_engine(db_url)
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


def issue_bind_code(chat: Simulation, name: str) -> str:
    """What `qinlin roster code NAME` prints: a one-time code for that roster person."""
    from bot.binding import issue_code
    from storage.db import unit_of_work

    with unit_of_work(chat.bot.services.factory) as session:
        return issue_code(
            session, name, chat.clock.now(), actor_id="cli", actor_name="qinlin roster code"
        ).code


def bind_by_code(chat: Simulation, name: str, contact_id: str | None = None) -> str:
    """The person ``name`` sends a fresh code in private chat from ``contact_id``; the bot's answer."""
    code = issue_bind_code(chat, name)
    return chat.say(None, name, f"/绑定 {code}", sender_id=contact_id or sender_id(name))[0].text
