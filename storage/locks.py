"""Locks that hold across processes on one database.

On PostgreSQL they are advisory locks keyed by a name (an area's outbox, an area's lease); on
SQLite every writing transaction already holds the one database-wide write lock (BEGIN
IMMEDIATE, storage.db), so a transaction-scoped lock is a no-op there.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def hold_for_transaction(session: Session, name: str) -> None:
    """Wait for, then hold until commit or rollback, the lock called ``name``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
