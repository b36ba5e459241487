"""The daily digest to staff rooms at digest.time: today's counts, new open items, notices nobody
confirmed; on digest.weekly_day it also carries the week's chart."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import Services
from bot.charts import write_chart
from bot.config import parse_clock_time
from bot.message import Outgoing
from bot.periods import Period
from bot.reports import KIND_LABEL
from bot.rooms import rooms_with_role
from storage.models import JobRun, Notice, NoticeAck, NoticeDelivery, Report

log = logging.getLogger(__name__)

JOB_ID = "daily-digest"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DailyDigest:
    name = JOB_ID

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        tz = services.config.tzinfo
        at = parse_clock_time(services.config.digest.time)
        last = session.get(JobRun, JOB_ID)
        local = now.astimezone(tz)
        today = datetime.combine(local.date(), at, tz)
        if last is None:
            # first start: today's digest if its time is still ahead (or just passed), else tomorrow's
            return today if now <= today + timedelta(hours=1) else today + timedelta(days=1)
        last_day = last.last_run_at.astimezone(tz).date()
        return datetime.combine(last_day + timedelta(days=1), at, tz)

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        config = services.config
        tz = config.tzinfo
        local = now.astimezone(tz)
        day = local.date()
        row = session.get(JobRun, JOB_ID)
        if row is None:
            session.add(JobRun(job_id=JOB_ID, last_run_at=now))
        else:
            row.last_run_at = now
        start, end = Period(day, day, "今天").bounds(tz)
        labels = services.parser.category_labels()
        by_kind = dict(session.execute(select(Report.kind, func.count()).where(
            Report.created_at >= start, Report.created_at < end).group_by(Report.kind)).all())
        by_category = session.execute(select(Report.category, func.count()).where(
            Report.created_at >= start, Report.created_at < end).group_by(Report.category)).all()
        new_open = session.scalar(select(func.count()).select_from(Report).where(
            Report.created_at >= start, Report.created_at < end, Report.status.in_(("open", "incomplete", "pending"))))
        all_open = session.scalar(select(func.count()).select_from(Report).where(
            Report.status.in_(("open", "incomplete", "pending"))))
        silent = session.execute(
            select(Notice.id, func.count(NoticeDelivery.id))
            .join(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
            .where(Notice.sent_at >= now - timedelta(hours=config.notices.ack_window_hours),
                   ~select(NoticeAck.id).where(NoticeAck.notice_id == Notice.id,
                                               NoticeAck.room_id == NoticeDelivery.room_id).exists())
            .group_by(Notice.id).order_by(Notice.id)
        ).all()
        total = sum(by_kind.values())
        lines = [f"【日报】{config.community} {day:%m月%d日}", f"今日报告 {total} 条"
                 + ("（" + "，".join(f"{KIND_LABEL[k]} {c}" for k, c in by_kind.items()) + "）" if total else "")]
        if by_category:
            lines.append("类别：" + "，".join(f"{labels.get(c, c)} {n}" for c, n in sorted(by_category, key=lambda x: -x[1])))
        lines.append(f"今日新增待办 {new_open} 条，全部待办 {all_open} 条（/待办 查看）")
        if silent:
            lines.append("未确认的通知：" + "，".join(f"N{n}（{c} 个群无人回复）" for n, c in silent))
        weekly = WEEKDAYS[day.weekday()] == config.digest.weekly_day
        chart_path = None
        if weekly:
            week = Period(day - timedelta(days=7), day - timedelta(days=1), "上周")
            try:
                chart_path = str(write_chart(session, config, week, f"{config.exports_dir}/周报图表_{day:%Y%m%d}.png"))
                lines.append("附上周各楼报告分布图。")
            except OSError as error:  # the digest matters more than its picture
                log.error("weekly chart not written to %s: %s", config.exports_dir, error)
                lines.append(f"（上周分布图没能保存到服务器 {config.exports_dir} 目录，请管理员检查。）")
        outgoing = []
        for room in rooms_with_role(session, "staff"):
            key = f"digest:{day.isoformat()}:{room.id}"
            outgoing.append(Outgoing(text="\n".join(lines), room_id=room.id, dedupe_key=key))
            if chart_path:
                outgoing.append(Outgoing(text="", file_path=chart_path, room_id=room.id, dedupe_key=key + ":chart"))
        return outgoing
