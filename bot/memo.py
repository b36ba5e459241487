"""Answers kept between units of work until a row they were read from changes.

What is due next (each timed job, the outbox) and who is who (the people directory) are asked
for between every two messages; asking the database each time was most of the cost of a busy
day. Each kept answer names the tables whose rows decide it (``watches``: a model class,
optionally with a test of the changed row). Every session made by the bot's session factory
reports what it flushed, bulk-updated or deleted, and that makes the answers that watch those
rows stale. So a day of chatter asks the database nothing about what is due, and a report that
opens a follow-up question, a notice that is scheduled, a row that is queued or a send that is
done each cost one recompute.

Changes made outside this process's sessions — the web workbench in another process queueing a
row, `qinlin roster import` while the bot runs — are not seen by the listener: whoever waits on
the wall clock calls :meth:`Memo.recheck` now and then (`qinlin run` does every few seconds), and
every process starts with nothing known.

Stale, not wrong: a version number per answer is taken before the database is asked and checked
when the answer is stored, so a change committed by another thread while the question was being
answered makes that answer stale at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

RowTest = Callable[[Any], bool]
Watches = Mapping[type, "RowTest | None"]  # a model class → which of its rows matter (None: all)

_TOUCHED = "qinlin_due_touched"  # session.info key: names a transaction made stale, again at commit


class Memo:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._watchers: dict[type, list[tuple[str, RowTest | None]]] = {}
        self._watched: set[str] = set()
        self._versions: dict[str, int] = {}
        self._known: dict[str, tuple[int, object]] = {}
        self._lock = threading.Lock()
        event.listen(factory, "after_flush", self._flushed)
        event.listen(factory, "do_orm_execute", self._bulk)
        event.listen(factory, "after_commit", self._ended)
        event.listen(factory, "after_soft_rollback", lambda session, _transaction: self._ended(session))

    def watch(self, name: str, watches: Watches) -> None:
        with self._lock:
            if name in self._watched:
                return
            self._watched.add(name)
            for model, test in watches.items():
                self._watchers.setdefault(model, []).append((name, test))

    def answer(self, name: str, watches: Watches, session: Session, ask: Callable[[Session], Any]) -> Any:
        """The kept answer for ``name``, or ``ask(session)``'s, kept until a row ``watches``
        names changes."""
        self.watch(name, watches)
        hit, value = self.known(name)
        if hit:
            return value
        version = self.version(name)
        value = ask(session)
        self.store(name, version, value)
        return value

    # ------------------------------------------------------------ reading

    def known(self, name: str) -> tuple[bool, object]:
        """(True, value) while the last answer for ``name`` is still good."""
        with self._lock:
            entry = self._known.get(name)
            if entry is not None and entry[0] == self._versions.get(name, 0):
                return True, entry[1]
        return False, None

    def version(self, name: str) -> int:
        """Take before asking the database; hand to :meth:`store` with the answer."""
        with self._lock:
            return self._versions.get(name, 0)

    def store(self, name: str, version: int, value: object) -> None:
        with self._lock:
            self._known[name] = (version, value)

    def revise(self, name: str, change: Callable[[Any], object | None]) -> None:
        """A change this process committed, applied to the kept answer instead of asking again:
        ``change`` returns the new answer, or None when it cannot tell (then it is asked again).
        Either way the version moves on, so an answer being read meanwhile is not kept."""
        with self._lock:
            entry = self._known.get(name)
            version = self._versions.get(name, 0)
            self._versions[name] = version + 1
            if entry is None or entry[0] != version:
                return
            revised = change(entry[1])
            if revised is None:
                del self._known[name]
            else:
                self._known[name] = (version + 1, revised)

    # ------------------------------------------------------------ making stale

    def forget(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._versions[name] = self._versions.get(name, 0) + 1

    def recheck(self) -> None:
        """Everything is asked again: for changes this process's sessions did not make."""
        with self._lock:
            for name in set(self._versions) | set(self._known):
                self._versions[name] = self._versions.get(name, 0) + 1

    def _stale_by(self, rows: Iterable[object]) -> set[str]:
        names: set[str] = set()
        for row in rows:
            for name, test in self._watchers.get(type(row), ()):
                if name not in names and (test is None or test(row)):
                    names.add(name)
        return names

    def _touch(self, session: Session, names: set[str]) -> None:
        if names:
            session.info.setdefault(_TOUCHED, set()).update(names)
            self.forget(names)

    def _flushed(self, session: Session, _context: object) -> None:
        # still the pre-flush picture here: new, dirty and deleted hold what this flush wrote
        self._touch(session, self._stale_by([*session.new, *session.dirty, *session.deleted]))

    def _bulk(self, state: ORMExecuteState) -> None:
        if not (state.is_update or state.is_delete or state.is_insert):
            return
        mapper = state.bind_mapper
        if mapper is not None:
            self._touch(state.session, {name for name, _ in self._watchers.get(mapper.class_, ())})

    def _ended(self, session: Session) -> None:
        # Again at commit (or rollback): an answer computed by another thread between this
        # session's flush and its commit read the rows as they were before.
        touched = session.info.pop(_TOUCHED, None)
        if touched:
            self.forget(touched)
