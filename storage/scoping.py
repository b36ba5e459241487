"""Areas as tenants, enforced in one place.

A session factory made for an area (``session_factory(engine, area=...)``) adds "this area's
rows only" to every ORM statement it runs — selects, joins, subqueries, bulk updates and
deletes — through ``with_loader_criteria`` on the :class:`~storage.models.AreaScoped` mixin, and
stamps every new row with the area before it is flushed. Handlers, jobs, exports and charts
query as if the database were theirs alone. A factory made without an area (migrations, the
street office's own view) sees every area.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from sqlalchemy import Delete, Engine, Executable, Insert, Select, Update, event, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from storage.models import AreaScoped, Base

AREA = "qinlin_area"  # session.info key


def scope_to_area(factory: sessionmaker[Session], area: str) -> None:
    factory.kw.setdefault("info", {})[AREA] = area

    # Made once: the option is the same for every statement of the area. A statement built once
    # and run often (the outbox's claim, the contact upsert) is scoped once too: a new scoped
    # copy per run was computed again — its cache key, lambda criteria and all — each time.
    this_area = with_loader_criteria(AreaScoped, lambda cls: cls.community == area, include_aliases=True)
    scoped: weakref.WeakKeyDictionary[Executable, Executable] = weakref.WeakKeyDictionary()

    def only_this_area(state: ORMExecuteState) -> None:
        statement = state.statement
        if not isinstance(statement, (Select, Update, Delete, Insert)):
            return
        done = scoped.get(statement)
        if done is None:
            if state.is_select or state.is_update or state.is_delete:
                done = statement.options(this_area)
            elif (
                state.is_insert
                and state.bind_mapper is not None
                and issubclass(state.bind_mapper.class_, AreaScoped)
            ):
                # an INSERT written as a statement (an upsert) is stamped like a row added to the session
                done = cast(Insert, statement).values(community=area)
            else:
                return
            scoped[statement] = done
        state.statement = done

    def stamp_new_rows(session: Session, _context: object, _instances: object) -> None:
        for row in session.new:
            if isinstance(row, AreaScoped) and not row.community:
                row.community = area

    event.listen(factory, "do_orm_execute", only_this_area)
    event.listen(factory, "before_flush", stamp_new_rows)


@contextmanager
def street_view(session: Session, area: str | None = None) -> Iterator[Session]:
    """A session on ``session``'s connection and transaction that sees every area (the street
    office's view) or, with ``area``, another area's rows only: what it writes commits or rolls
    back with the unit of work it was opened in. Pending changes of ``session`` are flushed first
    so the view sees them."""
    session.flush()
    factory = sessionmaker(
        bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    if area is not None:
        scope_to_area(factory, area)
    view = factory()
    try:
        yield view
        view.commit()  # releases its savepoint into the outer transaction, which decides
    except BaseException:
        view.rollback()
        raise
    finally:
        view.close()


def area_of(session: Session) -> str | None:
    """The area a session is made for; None for the street's view of every area."""
    return session.info.get(AREA)


def scoped_models() -> list[type[AreaScoped]]:
    return [mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, AreaScoped)]


def adopt_unassigned_rows(engine: Engine, area: str) -> int:
    """Rows from before areas ('' community) become this area's: the first area that starts on a
    database that served one residential area alone takes its records with it."""
    moved = 0
    with engine.begin() as connection:
        for model in scoped_models():
            table = model.__table__  # type: ignore[attr-defined]
            result = connection.execute(update(table).where(table.c.community == "").values(community=area))
            moved += result.rowcount or 0
    return moved
