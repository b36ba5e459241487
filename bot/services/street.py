"""The street office's (街道) verbs across every area on the database: /汇总 of all areas and a
street notice to every area's rooms.

Aggregates only: the street sees how many, per area and in total, never who or which room —
those stay with each area's staff, whose queries are logged where they work. A street notice
is queued as each area's own notice (its number, its deliveries, its outbox rows, its /回执),
so each area's account delivers its own rooms with its own pacing, and nothing is ever put in
one area's outbox for another area's room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from bot.config import Config
from bot.errors import UserError
from bot.identity import Identity
from bot.notices import signature
from bot.outbox import enqueue
from bot.services import Outcome
from bot.services.notices import Origin, post_notice
from bot.tally import Tally, areas_in, tally_by_area
from storage.scoping import area_of, street_view


@dataclass(frozen=True)
class StreetTally:
    areas: list[tuple[str, Tally]]  # every area of the database, in name order, with its counts
    total: Tally


def street_tally(session: Session, conditions: list[ColumnElement[bool]]) -> StreetTally:
    """Counts per area and in total, read in the street's view of every area."""
    with street_view(session) as everyone:
        counted = tally_by_area(everyone, conditions)
        names = sorted(set(areas_in(everyone)) | set(counted))
    total = Tally()
    for part in counted.values():
        total.add(part)
    return StreetTally([(name, counted.get(name, Tally())) for name in names], total)


def street_notice(
    session: Session, config: Config, actor: Identity, text: str, urgent: bool, now: datetime, origin: Origin
) -> Outcome:
    """#通知 全街道 text: one notice per area, to every building room of that area. The sender's
    own area's relays are returned for the caller to queue; every other area's are queued here,
    in that area's rows, on the same transaction (all areas get it, or none)."""
    if not text.strip():
        raise UserError("通知内容是空的。例如：#通知 全街道 本周六上午社区大扫除")
    headed = config.model_copy(update={"community": config.street})  # 【通知】斜土街道 N12 in every room
    signed = signature(session, actor.wechat_id, actor.name)  # from the roster of the sender's own area
    own = area_of(session)
    with street_view(session) as everyone:
        areas = areas_in(everyone)
    parts: list[str] = []
    outgoing = []
    rooms = 0
    for area in areas:
        try:
            if area == own:
                done = post_notice(session, headed, actor, f"全体 {text}", urgent, now, origin, signed)
                outgoing = done.outgoing
            else:
                with street_view(session, area) as theirs:
                    done = post_notice(theirs, headed, actor, f"全体 {text}", urgent, now, origin, signed)
                    for out in done.outgoing:
                        enqueue(theirs, out, now)
        except UserError:
            parts.append(f"{area} 0 个群（还没有楼组群）")
            continue
        rooms += len(done.outgoing)
        parts.append(f"{area} N{done.notes['notice_id']} {len(done.outgoing)} 个群")
    if not rooms:
        raise UserError("还没有任何居民区的楼组群可以发（各居民区的机器人需要先在群里）。")
    return Outcome(
        f"已排队发送全街道通知至 {len(areas)} 个居民区共 {rooms} 个楼组群，各居民区的账号发自己的群：\n"
        + "\n".join(parts),
        outgoing,
    )
