"""What staff look at: the query log every view of personal data writes, charts and the ledger.

/查询 in chat and a report page in the browser write the same query-log row; /图表 and /导出
and the workbench's chart and ledger buttons make the same files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.charts import write_chart
from bot.config import Config
from bot.ledger import write_ledger
from bot.periods import Period
from storage.models import QueryLog


def log_query(
    session: Session,
    person_id: str,
    person_name: str,
    room_id: str | None,
    command: str,
    arguments: str,
    now: datetime,
    phones_whole: bool = False,
) -> QueryLog:
    row = QueryLog(
        at=now,
        person_id=person_id,
        person_name=person_name[:128],
        room_id=room_id,
        command=command,
        arguments=arguments[:500],
        phones_whole=phones_whole,
    )
    session.add(row)
    return row


def chart_file(
    session: Session,
    config: Config,
    period: Period,
    now: datetime,
    buildings: list[str] | None = None,
    scope_label: str = "",
) -> Path:
    stamp = now.astimezone(config.tzinfo)
    return write_chart(
        session,
        config,
        period,
        f"{config.exports_dir}/图表_{period.start:%Y%m%d}-{period.end:%Y%m%d}_{stamp:%H%M%S%f}.png",
        buildings=buildings,
        scope_label=scope_label,
    )


def ledger_file(session: Session, config: Config, period: Period, now: datetime) -> Path:
    stamp = now.astimezone(config.tzinfo)
    return write_ledger(
        session,
        config,
        period,
        f"{config.exports_dir}/台帐_{period.start:%Y%m%d}-{period.end:%Y%m%d}_{stamp:%H%M%S}.xlsx",
    )
