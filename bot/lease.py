"""One live process per residential area: a lease the process holds for as long as it lives.

On PostgreSQL the lease is a session advisory lock, keyed by the schema and the area, on a connection kept
for it alone: the server drops the lock the moment that connection ends, so a process killed
with ``kill -9`` (or a machine that loses power) frees its area at once, and a standby polling
every few seconds takes over well within 30 s. The holder names itself in ``application_name``
so a standby can say who it is waiting for.

On SQLite every process is on the machine that has the file, so the lease is an exclusive
``flock`` on a file beside the database, which the kernel drops with the process.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from storage.locks import advisory_key

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # how often a standby asks; the takeover comes within this after the holder dies


def holder_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class AreaLease:
    def __init__(self, engine: Engine, area: str) -> None:
        self.engine = engine
        self.area = area
        self.key: int | None = None  # PostgreSQL's, named by schema and area (see _key)
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._try_advisory()
        return self._try_file()

    def _try_advisory(self) -> bool:
        connection = self.engine.connect()
        try:
            connection.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": f"qinlin {self.area} {holder_name()}"[:63]},
            )
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key(connection)}
                ).scalar()
            )
            connection.commit()  # a session lock outlives the transaction; no transaction stays open
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _key(self, connection: Connection) -> int:
        """PostgreSQL's advisory locks hold across a whole database, schemas included: the key
        names the schema too, so two deployments in two schemas of one database (or test runs, one
        schema each) never hold each other's areas."""
        if self.key is None:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            self.key = advisory_key(f"lease:{schema}:{self.area}")
        return self.key

    def _try_file(self) -> bool:
        path = self._lease_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name())
        handle.flush()
        self._file = handle
        return True

    def _lease_path(self) -> Path:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return (
                Path(os.environ.get("TMPDIR", "/tmp"))
                / f"qinlin-{advisory_key(self.area) & 0xFFFFFFFF:08x}.lease"
            )
        return Path(f"{database}.{advisory_key(self.area) & 0xFFFFFFFF:08x}.lease")

    def still_held(self) -> bool:
        """Is the lease still ours? False when the connection holding it has gone (the database
        restarted): another process may have taken the area meanwhile."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
            return True
        except Exception:  # any failure means the lock went with the connection
            log.warning("the lease of %s went with its database connection", self.area)
            self._drop()
            return False

    def holder(self) -> str | None:
        """Who holds the lease now, as they named themselves (None if unknown or free)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                key = self._key(connection)
                return connection.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high AND l.objid = :low "
                        "AND l.objsubid = 1 LIMIT 1"
                    ),
                    {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
                ).scalar()
        try:
            return self._lease_path().read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._connection.commit()
            except Exception:  # closing the connection frees it anyway
                pass
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                # closed for real, not handed back to the pool: a pooled connection would keep
                # holding the session lock
                self._connection.invalidate()
                self._connection.close()
            except Exception:  # an already broken connection
                pass
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
