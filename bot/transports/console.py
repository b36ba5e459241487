"""``qinlin console``: type as a resident, a leader or staff and see what the bot answers.

Commands start with ':' — ':room 江南新村3号楼' picks a room (':room' alone: private chat),
':as 张阿姨' picks a speaker, ':bind' binds the speaker to the roster person of that name (what a
code from `qinlin roster code` does in WeChat: whoever sits at this terminal runs the server anyway),
':wait 11m' moves the clock on, ':rooms' lists known rooms, ':quit' leaves. An '@name' typed
in a message is a mention of the contact seen here under that name, as WeChat's @ list makes it.
Works with piped stdin too, so a session can be scripted.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import IO

from sqlalchemy import Engine

from bot.clock import SystemClock, VirtualClock
from bot.config import Config
from bot.transports.simulated import Delivered, Simulation
from handlers import build_application
from storage.repositories import rooms as room_rows

HELP = "命令：:room 群名（空=私聊） · :as 姓名 · :bind（把当前发言人绑定为名册里的同名人） · :wait 10m · :rooms · :quit"
_WAIT = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "minutes"}
# The console runs every timed job on the way (a digest a day, reminders): a year takes seconds,
# decades would take hours. Replay has the same bound for the same reason.
MAX_WAIT = timedelta(days=400)


def format_delivery(item: Delivered) -> str:
    where = f"[{item.room_topic}]" if item.room_topic else f"[私聊 {item.person_name}]"
    attachment = f"\n    📎 {item.file_path}" if item.file_path else ""
    if item.recalls is not None:  # what WeChat shows in the chat instead of the message
        return f"{item.at:%H:%M:%S} {where} 「亲邻助手」撤回了一条消息"
    body = item.text.replace("\n", "\n    ")
    return f"{item.at:%H:%M:%S} {where} 亲邻助手: {body}{attachment}"


def run_console(config: Config, engine: Engine, source: IO[str], sink: IO[str]) -> None:
    clock = VirtualClock(SystemClock(config.tzinfo).now(), config.tzinfo)
    simulation = Simulation(build_application(config, engine, clock), clock)
    room: str | None = None
    speaker = config.people[-1].name if config.people else "居民"
    interactive = source.isatty()
    sink.write(f"亲邻助手 console · {config.community}\n{HELP}\n当前：私聊 · {speaker}\n")
    while True:
        if interactive:
            sink.write(f"{room or '私聊'} · {speaker}> ")
            sink.flush()
        line = source.readline()
        if not line:
            break
        line = line.rstrip("\n")
        if line.startswith(":"):
            command, _, argument = line[1:].partition(" ")
            argument = argument.strip()
            if command in ("quit", "q", "exit"):
                break
            if command == "room":
                room = argument or None
                sink.write(f"→ {room or '私聊'}\n")
            elif command == "as":
                speaker = argument or speaker
                known = any(person.name == speaker for person in config.people)
                sink.write(
                    f"→ 以 {speaker} 的身份发言"
                    + ("" if known else "（config.yaml 里没有此人：按普通居民）")
                    + "\n"
                )
            elif command == "wait":
                found = _WAIT.match(argument)
                if not found:
                    sink.write("用法：:wait 10m（s 秒, m 分, h 时, d 天）\n")
                    continue
                amount = int(found.group(1)) if len(found.group(1)) <= 9 else None
                step = timedelta(**{_UNITS[found.group(2)]: amount}) if amount is not None else None
                if amount is None or step is None or step > MAX_WAIT:
                    sink.write(f"最多等 {MAX_WAIT.days} 天（:wait {MAX_WAIT.days}d）\n")
                    continue
                for item in simulation.wait(**{_UNITS[found.group(2)]: amount}):
                    sink.write(format_delivery(item) + "\n")
                sink.write(f"→ 现在 {clock.now():%Y-%m-%d %H:%M}\n")
            elif command == "bind":
                sink.write(f"→ {_bind_speaker(simulation, speaker)}\n")
            elif command == "rooms":
                with simulation.bot.services.factory() as session:
                    for seen in room_rows.by_topic(session):
                        sink.write(f"  {seen.topic}  ({seen.role or '未绑定'})\n")
            else:
                sink.write(HELP + "\n")
            continue
        clock.set(max(clock.now(), SystemClock(config.tzinfo).now()))
        if not interactive:
            sink.write(f"{clock.now():%H:%M:%S} [{room or '私聊'}] {speaker}: {line}\n")
        for item in simulation.say(room, speaker, line, mentions=simulation.picked_mentions(line)):
            sink.write(format_delivery(item) + "\n")
        clock.advance(timedelta(seconds=1))
        sink.flush()


def _bind_speaker(simulation: Simulation, speaker: str) -> str:
    """Issue a code for the roster person ``speaker`` and redeem it as the console's contact."""
    from bot.binding import BindingError, issue_code, redeem_code
    from storage.db import unit_of_work

    now = simulation.clock.now()
    contact = simulation.message("", speaker).sender_id
    try:
        with unit_of_work(simulation.bot.services.factory) as session:
            issued = issue_code(session, speaker, now, actor_id="console", actor_name="qinlin console")
            return redeem_code(session, contact, speaker, issued.code, now)
    except BindingError as error:
        return str(error)
