"""The e2e fixture: a real Wechaty puppet service (Node) on a free loopback port, and
`qinlin run` as a separate process talking gRPC to it."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from storage.db import driver_url, make_engine, upgrade

GATEWAY = Path(__file__).parent / "gateway"
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "qinlin-e2e-token"


def migrated_sqlite(path: Path) -> str:
    """What the operator does with `qinlin db upgrade` before the first `qinlin run`."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return f"sqlite:///{path}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"e2e gateway unavailable in CI: {reason}")
    pytest.skip(reason)


class Gateway:
    """The Node gateway process, driven over its JSON line protocol."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: queue.Queue[dict] = queue.Queue()
        self.said: list[dict] = []
        # QINLIN_E2E_GATEWAY_LOG=FILE keeps the service's own log (WECHATY_LOG=verbose for more)
        self.stderr = open(os.environ.get("QINLIN_E2E_GATEWAY_LOG", os.devnull), "a", encoding="utf-8")
        self.process = subprocess.Popen(
            ["node", "gateway.mjs", str(port), TOKEN],
            cwd=GATEWAY,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready", timeout=30)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "bot_said":
                event["at"] = time.monotonic()
                self.said.append(event)
            else:
                self.events.put(event)

    def send(self, **command: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command, ensure_ascii=False) + "\n")
        self.process.stdin.flush()

    def expect(self, name: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event.get("event") == name:
                return event
            if event.get("event") == "error":
                raise AssertionError(f"gateway error: {event}")
        raise AssertionError(f"gateway: no '{name}' within {timeout} s")

    def wait_for_reply(self, predicate, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.said):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(
            f"the bot did not say it within {timeout} s; it said: {[e['text'][:40] for e in self.said]}"
        )

    def sync(self) -> None:
        """Every event the gateway emitted before this call has been read: what the bot sent so far
        is in ``said``."""
        self.send(cmd="sync")
        self.expect("sync")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.stderr.close()


PROVEN_ROOMS = {"居委工作群": "staff", "第2党支部": "branch, branch: 2"}


def bound_by_id(config: str, ids: dict[str, str], people: tuple[str, ...]) -> str:
    """The shipped config.yaml as a site that knows its WeChat ids writes it: the staff and party
    rooms by id (a topic never makes one), and ``people`` bound to their contact ids."""
    rules = "".join(
        f'  - {{id: "{ids[topic]}", role: {role}}}\n' for topic, role in PROVEN_ROOMS.items() if topic in ids
    )
    config = re.sub(r"^rooms:.*\n", lambda found: found.group(0) + rules, config, count=1, flags=re.M)
    for name in people:
        if name in ids:
            config = re.sub(
                rf"(- \{{name: {name}, [^}}]*)\}}",
                lambda found, wechat_id=ids[name]: f'{found.group(1)}, wechat_id: "{wechat_id}"}}',
                config,
                count=1,
            )
    return config


class BotProcess:
    """`qinlin run` against the gateway, with its own SQLite database — or on ``database`` (a
    migrated one's URL: several areas' processes on one PostgreSQL), with ``edit`` making the
    shipped config another area's (community) or adding to it."""

    def __init__(
        self,
        port: int,
        workdir: Path,
        log_name: str = "bot.log",
        claim_seconds: float = 60,
        ids: dict[str, str] | None = None,
        bind: tuple[str, ...] = ("王社工", "赵党员"),
        database: str | None = None,
        edit: Callable[[str], str] | None = None,
    ) -> None:
        config = bound_by_id((ROOT / "config.yaml").read_text(encoding="utf-8"), ids or {}, bind)
        config = config.replace(
            'database: {url: "sqlite:///data/qinlin.db"}',
            f'database: {{url: "{database or f"sqlite:///{workdir}/qinlin.db"}"}}',
        )
        config = config.replace(
            "outbox: {min_interval_seconds: 2,",
            f"outbox: {{min_interval_seconds: 1, jitter_seconds: 0.2, claim_seconds: {claim_seconds},",
        )
        config = config.replace('quiet_hours: "22:00-07:00"', "quiet_hours: null")
        config += f"\nexports_dir: {workdir}/exports\n"
        (workdir / "config.yaml").write_text(edit(config) if edit else config, encoding="utf-8")
        self.database_url = database or f"sqlite:///{workdir}/qinlin.db"
        if database is None:
            migrated_sqlite(workdir / "qinlin.db")
        self.log = (workdir / log_name).open("w", encoding="utf-8")
        env = {
            **os.environ,
            "WECHATY_PUPPET_SERVICE_ENDPOINT": f"127.0.0.1:{port}",
            "WECHATY_PUPPET_SERVICE_TOKEN": TOKEN,
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "ignore",
        }
        self.logfile = workdir / log_name
        self.logins = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(workdir / "config.yaml")],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.logfile.read_text(encoding="utf-8")

    def count(self, query: str, **params: object) -> int:
        """A count from the bot's database, read as it runs (a reader blocks no writer there)."""
        reader = create_engine(driver_url(self.database_url), poolclass=NullPool)
        try:
            with reader.connect() as connection:
                return int(connection.execute(text(query), params).scalar_one())
        finally:
            reader.dispose()

    def kill_hard(self) -> None:
        """kill -9: no clean-up, no last write; what a power cut or the OOM killer does."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        finally:
            self.log.close()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(what)


# an area's notice relays whose send is written down as done
RELAYS_SENT = (
    "SELECT count(*) FROM outbox WHERE notice_id IS NOT NULL AND state = 'sent' AND community = :area"
)


def kill_between_sends(bot: BotProcess, sent: int, area: str = "江南新村居民区", timeout: float = 30) -> None:
    """``kill -9`` once the bot has written down its ``sent``-th relay as sent, i.e. in the pause
    (at least the 1 s interval) before the next: rows wait in the queue, none is in flight. A kill
    as a relay leaves, before its outcome is written, has it sent again — notices err that way
    (docs/faults.md) — and a test of resuming must not depend on how fast a loaded machine
    writes it down."""
    wait_until(
        lambda: bot.count(RELAYS_SENT, area=area) >= sent,
        timeout,
        f"{sent} relays not written as sent within {timeout} s: {bot.output()[-2000:]}",
    )
    bot.kill_hard()


# a notice's relays still to go out, or out with their outcome not yet written
RELAYS_UNSETTLED = (
    "SELECT count(*) FROM outbox WHERE notice_id IS NOT NULL AND state IN ('queued', 'sending')"
)


def settled(bot: BotProcess, *gateways: Gateway, timeout: float = 60) -> None:
    """Wait until every relay of the notices in the bot's database is sent or given up, then until
    the gateways' events up to now are read. After that the bot sends no relay again unless asked anew, so a
    relay sent twice is in ``gateway.said`` — sooner and surer than waiting a fixed time (a
    claim left by a killed process holds its row for ``claim_seconds``, then it is settled)."""
    wait_until(
        lambda: bot.count(RELAYS_UNSETTLED) == 0,
        timeout,
        f"relays still unsettled after {timeout} s: {bot.output()[-2000:]}",
    )
    for gateway in gateways:
        gateway.sync()


def login(gateway: Gateway, bot: BotProcess, timeout: float = 60) -> None:
    """The gateway logs the mock user in once the bot's event stream has subscribed."""
    gateway.send(cmd="login")
    gateway.expect("login", timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.output().count("logged in as") > bot.logins:
            bot.logins += 1
            return
        if bot.process.poll() is not None:
            raise AssertionError(f"qinlin run exited: {bot.output()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"the bot never logged in: {bot.output()[-2000:]}")


@pytest.fixture
def gateway_port() -> int:
    if shutil.which("node") is None:
        _unavailable("node is not installed")
    if not (GATEWAY / "node_modules" / "wechaty-puppet-service").exists():
        _unavailable("gateway packages missing: run `npm install --prefix tests/e2e/gateway`")
    return free_port()


@pytest.fixture
def gateway(gateway_port: int) -> Iterator[Gateway]:
    running = Gateway(gateway_port)
    yield running
    if running.process.poll() is None:
        running.kill()
