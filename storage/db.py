"""Engine, sessions and migrations.

SQLite gets WAL and foreign keys through a connect listener (the only SQLite-specific code);
PostgreSQL is used as it comes. Migrations are Alembic's, run programmatically so the package
needs no alembic.ini on the user's machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.locks import advisory_key

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class DatabaseNotMigrated(Exception):
    pass


class DatabaseUnavailable(Exception):
    """The database cannot even be opened (its folder cannot be created): the operator's to fix."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # DBAPI connection
    # We issue BEGIN ourselves (below): pysqlite's own deferred BEGIN lets two writers both start
    # as readers and then deadlock on the upgrade, failing at once instead of waiting.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class _SQLiteTurns:
    """Transactions of one process take turns on SQLite's single write lock through a Python
    lock first. SQLite's own busy handler polls with growing sleeps, so under a burst (2,000
    messages on 6 threads, bench/bench_intake.py) an unlucky writer waited 7 s, near the busy
    timeout; a Python lock hands the turn over at once. busy_timeout still covers other
    processes (a `qinlin export` while the bot runs)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def begin(self, connection) -> None:  # SQLAlchemy connection
        self.lock.acquire()
        try:
            # BEGIN IMMEDIATE: take the write lock at the start of every unit of work; pysqlite's
            # deferred BEGIN lets two writers both start as readers and deadlock on the upgrade.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        connection.info["qinlin_turn"] = True

    def end(self, connection) -> None:  # SQLAlchemy connection
        if connection.info.pop("qinlin_turn", False):
            self.lock.release()


def driver_url(url: str) -> str:
    """``url`` with its driver named: PostgreSQL through psycopg 3, which the postgres extra
    installs. A bare postgresql:// means psycopg2 to SQLAlchemy 2.0 (what Python 3.10 gets)
    and psycopg to 2.1."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"cannot create the folder {folder} for the SQLite file: {error.strerror or error}"
                ) from None
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        turns = _SQLiteTurns()
        event.listen(engine, "begin", turns.begin)
        event.listen(engine, "commit", turns.end)
        event.listen(engine, "rollback", turns.end)
        return engine
    return create_engine(driver_url(url), pool_pre_ping=True)


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


MIGRATION_LOCK = "qinlin:migrations"


def upgrade(engine: Engine) -> None:
    """Apply every migration (idempotent). On PostgreSQL two at once (two `qinlin db upgrade`,
    two bots starting on an empty database) take turns on an advisory lock: the second waits,
    then finds nothing to do. SQLite's write lock already makes them take turns."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": advisory_key(MIGRATION_LOCK)})
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(MIGRATION_LOCK)})
            holder.commit()


def check_migrated(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise DatabaseNotMigrated(
            f"database is at {current or 'no revision'}, code expects {head}: run 'qinlin db upgrade'"
        )


# SQLSTATEs that mean "the database is not usable right now" rather than "this statement is
# wrong": a revoked privilege (42501), too many connections, a server shutting down, a full disk.
_UNAVAILABLE_SQLSTATES = ("42501", "53", "57P", "08")


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database cannot be used right now (an outage: retry later), or None when the error
    is about the statement or the data (retrying would fail the same way)."""
    if isinstance(
        error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)
    ) or (
        isinstance(error, exc.DBAPIError)
        and (
            error.connection_invalidated
            or str(getattr(error.orig, "sqlstate", "") or "").startswith(_UNAVAILABLE_SQLSTATES)
        )
    ):
        pass
    else:
        return None
    original = getattr(error, "orig", None) or error
    first = str(original).strip().splitlines()
    return first[0][:200] if first else type(original).__name__


def session_factory(engine: Engine, area: str | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; with ``area``, sessions that see and write that area's rows only
    (storage/scoping.py)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    if area is not None:
        from storage.scoping import scope_to_area  # the models import this module's neighbours

        scope_to_area(factory, area)
    return factory


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
