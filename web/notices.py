"""Notices: what was sent, where it arrived and who said 收到; sending with the #通知 targets
grammar, recall within WeChat's window, scheduled notices and their cancel."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import UserError
from bot.message import display_text, normalise_text
from bot.schedules import recurrence_label
from bot.services import notices
from storage.models import Notice
from storage.repositories import notices as notice_rows
from web.desk import Desk, Page, page, see_other

STATUS_LABEL = {
    "sent": "已发送",
    "recalled": "已撤回",
    "scheduled": "待发送",
    "cancelled": "已取消",
    "skipped": "已跳过",
    "held": "待发布人确认",
    "lapsed": "未确认，已作废",
}
RECALL_LABEL = {
    "withdrawn": "未发出，已取消",
    "too_late": "已超时，未能撤回",
    "requested": "撤回中",
    "recalled": "已撤回",
    "refused": "微信未能撤回",
}
RELAY_LABEL = {
    "queued": "排队中",
    "sending": "发送中",
    "sent": "已送达",
    "failed": "发送失败",
    "withdrawn": "未发出",
}


def _origin(raw: str) -> tuple[str, notices.Origin]:
    """The form's text read as chat reads a message (NFKC for the targets), relayed as typed."""
    text, display = normalise_text(raw), display_text(raw)

    def as_typed(tail: str) -> str:
        return display[-len(tail) :] if tail and len(display) == len(text) else tail

    return text, notices.Origin(None, f"web-{secrets.token_hex(8)}", as_typed)


def list_notices(page: Page) -> Response:
    rows = notice_rows.posted_by_people(page.session, ("sent", "recalled"), 30)
    rooms, acks, confirmed_rooms = notice_rows.counts_per_notice(page.session, [row.id for row in rows])
    scheduled = notice_rows.scheduled_by_people(page.session)
    return page.render(
        "notices.html",
        rows=rows,
        rooms=rooms,
        acks=acks,
        confirmed_rooms=confirmed_rooms,
        scheduled=scheduled,
        statuses=STATUS_LABEL,
        recurrence_label=recurrence_label,
    )


def show_notice(page: Page) -> Response:
    number = int(page.request.path_params["number"])
    notice = page.session.get(Notice, number)
    if notice is None:
        raise UserError(f"没有找到通知 N{number}。")
    page.log_query("/回执", f"N{notice.id}")  # names of who confirmed are on this page
    deliveries = notice_rows.deliveries_with_topics(page.session, notice.id)
    relays = notice_rows.relays_by_room(page.session, notice.id)
    reminders = notice_rows.reminders_by_room(page.session, notice.id)
    names = notice_rows.ack_names_by_room(page.session, notice.id)
    window = timedelta(minutes=page.config.notices.recall_window_minutes)
    recallable = (
        notice.status == "sent"
        and notice.recall_requested_by is None
        and any(
            state in ("queued", "sending") or (sent_at is not None and page.now - sent_at <= window)
            for state, sent_at in relays.values()
        )
    )
    return page.render(
        "notice.html",
        notice=notice,
        deliveries=deliveries,
        relays=relays,
        names=names,
        statuses=STATUS_LABEL,
        relay_label=RELAY_LABEL,
        recallable=recallable,
        reminders=reminders,
        recall_label=RECALL_LABEL,
        recall_minutes=f"{page.config.notices.recall_window_minutes:g}",
    )


def send_notice(page: Page) -> Response:
    text, origin = _origin(page.field("text")[:2000])
    done = notices.post_notice(
        page.session, page.config, page.viewer, text, bool(page.field("urgent")), page.now, origin
    )
    page.outgoing.extend(done.outgoing)
    page.flash(done.text)
    return see_other(f"/notices/{done.notes['notice_id']}")


def schedule_notice(page: Page) -> Response:
    text, origin = _origin(f"{page.field('when')[:40]} {page.field('text')[:2000]}")
    page.flash(notices.schedule_notice(page.session, page.config, page.viewer, text, page.now, origin).text)
    return see_other("/notices")


def recall(page: Page) -> Response:
    done = notices.recall_notice(
        page.session,
        page.config,
        page.viewer,
        int(page.request.path_params["number"]),
        page.now,
        reply_room_id=None,
    )
    page.outgoing.extend(done.outgoing)
    page.flash(done.text)
    return see_other(f"/notices/{page.request.path_params['number']}")


def cancel(page: Page) -> Response:
    page.flash(
        notices.cancel_scheduled(page.session, page.viewer, int(page.request.path_params["number"])).text
    )
    return see_other("/notices")


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    return [
        page(desk_of, "/notices", list_notices),
        page(desk_of, "/notices/send", send_notice, methods=("POST",), done="/notices"),
        page(desk_of, "/notices/schedule", schedule_notice, methods=("POST",), done="/notices"),
        page(desk_of, "/notices/{number:int}", show_notice),
        page(desk_of, "/notices/{number:int}/recall", recall, methods=("POST",), done="/notices/{number}"),
        page(desk_of, "/notices/{number:int}/cancel", cancel, methods=("POST",), done="/notices"),
    ]
