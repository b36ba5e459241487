"""``qinlin demo``: a scripted day in 江南新村 (bot/data/demo_day.yaml) through the whole bot —
parsing, storage, follow-ups, corrections, 接龙, notices, staff commands and the ledger — on a
fresh SQLite file, printed as a chat transcript with a short summary at the end."""

from __future__ import annotations

import re
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import IO

import yaml

from bot.clock import VirtualClock
from bot.config import Config
from bot.reports import KIND_LABEL, STATUS_LABEL
from bot.transports.console import format_delivery
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from storage.models import Report
from storage.repositories import notices as notice_rows
from storage.repositories import reports as report_rows

SCRIPT = Path(__file__).parent / "data" / "demo_day.yaml"
DEMO_CONFIG = Path(__file__).parent / "data" / "demo_config.yaml"  # the 江南新村 example, as shipped
_NUMBER = re.compile(r"#(\d+)")
_NOTICE = re.compile(r"\bN(\d+)\b")


def run_demo(config: Config, sink: IO[str], keep: bool = False) -> Path:
    script = yaml.safe_load(SCRIPT.read_text(encoding="utf-8"))
    day = date.fromisoformat(script["date"])
    folder = Path("data") if keep else Path(tempfile.mkdtemp(prefix="qinlin-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "demo.db"
    if database.exists():
        database.unlink()
    config = config.model_copy(update={"exports_dir": str(folder / "exports")})
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)  # the demo's own fresh file: migrating it is part of the demo
    start = datetime.combine(day, time(8, 0), config.tzinfo)
    clock = VirtualClock(start, config.tzinfo)
    simulation = Simulation(build_application(config, engine, clock), clock)
    numbers: dict[str, str] = {}

    sink.write(f"亲邻助手 demo · {config.community} · {day:%Y-%m-%d}\n")
    sink.write("=" * 60 + "\n")
    for step in script["steps"]:
        hour, minute = (int(part) for part in step["at"].split(":"))
        before = len(simulation.delivered)
        simulation.advance_to(datetime.combine(day, time(hour, minute), config.tzinfo))
        for item in simulation.delivered[before:]:  # what the clock brought: reminders, schedules
            sink.write(format_delivery(item) + "\n")
        try:
            text = step["text"].format(**numbers)
        except KeyError:  # the step refers to a number an earlier step did not produce
            continue
        where = step.get("room") or f"私聊 {step['from']}"
        shown = text.replace("\n", "\n    ")
        sink.write(f"{clock.now():%H:%M:%S} [{where}] {step['from']}: {shown}\n")
        for item in simulation.say(step.get("room"), step["from"], text):
            sink.write(format_delivery(item) + "\n")
            _remember_numbers(item.text, numbers)
    simulation.drain()
    sink.write("=" * 60 + "\n")
    _summary(simulation, sink, database)
    engine.dispose()
    return database


def _remember_numbers(text: str, numbers: dict[str, str]) -> None:
    """Later steps refer to numbers the bot gave out: {first} report, {last} report, {notice} the
    first notice and {latest_notice} the latest."""
    found = _NUMBER.findall(text)
    if found and text.startswith(("已登记", "已收到")):
        numbers.setdefault("first", found[0])
        numbers["last"] = found[0]
    notice = _NOTICE.search(text)
    if notice and text.startswith("已排队发送"):
        numbers.setdefault("notice", f"N{notice.group(1)}")
        numbers["latest_notice"] = f"N{notice.group(1)}"


def _summary(simulation: Simulation, sink: IO[str], database: Path) -> None:
    with simulation.bot.services.factory() as session:
        by_kind = report_rows.counts_by(session, Report.kind)
        by_status = report_rows.counts_by(session, Report.status)
        notices = notice_rows.count_in(session, "sent")
        sent = notice_rows.relays_in(session, "sent")
    kinds = "，".join(f"{KIND_LABEL.get(kind, kind)} {count}" for kind, count in sorted(by_kind))
    statuses = "，".join(f"{STATUS_LABEL.get(status, status)} {count}" for status, count in sorted(by_status))
    sink.write(f"小结：报告 {sum(c for _, c in by_kind)} 条（{kinds}）；状态：{statuses}\n")
    sink.write(f"通知 {notices} 条；机器人共发出 {sent} 条消息（每条间隔≥2秒，夜间静默）\n")
    sink.write(f"数据库：{database}\n")
