"""A street office on one PostgreSQL, over the real puppet service: two areas, each its own WeChat
account (gateway) and `qinlin run`, and a standby for one of them. The street's notices go to every
room of both areas; the active process of 江南新村 is killed with `kill -9` in the middle of the
first fan-out. Each room gets each notice once, from its own area's account, never faster than
the configured pace, and the standby takes over within 30 s."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from storage.db import make_engine, upgrade
from tests.conftest import _private_schema, _skip_without_postgresql
from tests.e2e.conftest import BotProcess, Gateway, free_port, kill_between_sends, login, settled
from tests.e2e.conftest import wait_until as wait_for
from tests.e2e.test_street_e2e import TAKEOVER_LIMIT

ROOMS = 4  # per area: enough for a fan-out to be cut in the middle, few enough to stay quick
A_ROOMS = [f"江南新村{n}号楼" for n in range(1, ROOMS + 1)]
B_ROOMS = [f"东风新村{n}号楼" for n in range(1, ROOMS + 1)]
STREET_PERSON = "刘科长"


@pytest.fixture
def street_database() -> Iterator[str]:
    """A PostgreSQL schema of its own, migrated as the operator does before the first run."""
    _skip_without_postgresql()
    with _private_schema() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def relays(gateway: Gateway, words: str) -> list[dict]:
    return [e for e in gateway.said if e["text"].startswith("【通知】") and words in e["text"]]


def test_street_notices_reach_every_room_once_from_its_own_account_across_a_kill_9(
    gateway: Gateway, street_database: str, tmp_path: Path
) -> None:
    dongfeng_gateway = Gateway(free_port())
    ids: dict[str, str] = {}
    for name in (STREET_PERSON, "王社工", "张阿姨"):
        gateway.send(cmd="contact", name=name)
        ids[name] = gateway.expect("contact")["id"]
    for topic in A_ROOMS:
        gateway.send(cmd="room", topic=topic, members=["张阿姨"])
        gateway.expect("room")
    dongfeng_gateway.send(cmd="contact", name="孙师傅")
    dongfeng_gateway.expect("contact")
    for topic in B_ROOMS:
        dongfeng_gateway.send(cmd="room", topic=topic, members=["孙师傅"])
        dongfeng_gateway.expect("room")

    def jiangnan(config: str) -> str:  # the street office's person is in 江南新村's config
        street_person = f'  - {{name: {STREET_PERSON}, role: street, wechat_id: "{ids[STREET_PERSON]}"}}\n'
        return (
            re.sub(r"^people:\n", lambda found: found.group(0) + street_person, config, count=1, flags=re.M)
            + "street: 斜土街道\n"
        )

    def dongfeng(config: str) -> str:
        return config.replace("community: 江南新村居民区", "community: 东风新村居民区", 1)

    (tmp_path / "dongfeng").mkdir()
    processes: list[BotProcess] = []
    try:
        first = BotProcess(
            gateway.port, tmp_path, "first.log", ids=ids, database=street_database, edit=jiangnan
        )
        processes.append(first)
        login(gateway, first)
        standby = BotProcess(
            gateway.port, tmp_path, "standby.log", ids=ids, database=street_database, edit=jiangnan
        )
        processes.append(standby)
        other = BotProcess(
            dongfeng_gateway.port, tmp_path / "dongfeng", bind=(), database=street_database, edit=dongfeng
        )
        processes.append(other)
        login(dongfeng_gateway, other)
        wait_for(lambda: "standing by to take over" in standby.output(), 60, standby.output()[-2000:])

        gateway.send(
            cmd="say", **{"from": STREET_PERSON, "room": None, "text": "#通知 全街道 今晚全街道消防检查"}
        )
        wait_for(lambda: len(relays(gateway, "消防检查")) >= 2, 60, first.output()[-2000:])
        kill_between_sends(first, 2)
        killed_at = time.monotonic()
        killed_after = len(relays(gateway, "消防检查"))
        login(gateway, standby, timeout=TAKEOVER_LIMIT + 30)
        took_over = time.monotonic() - killed_at
        wait_for(lambda: len(relays(gateway, "消防检查")) >= ROOMS, 60, standby.output()[-2000:])
        # a second notice, from the process that took over
        gateway.send(
            cmd="say", **{"from": STREET_PERSON, "room": None, "text": "#通知 全街道 周六上午垃圾分类宣传"}
        )
        for account in (gateway, dongfeng_gateway):
            for words in ("消防检查", "垃圾分类宣传"):
                wait_for(
                    lambda account=account, words=words: len(relays(account, words)) >= ROOMS,
                    60,
                    f"{words}: {standby.output()[-1500:]}\n{other.output()[-1500:]}",
                )
        settled(
            standby, gateway, dongfeng_gateway
        )  # both areas, one database: a relay sent twice has arrived

        for account, own_rooms in ((gateway, A_ROOMS), (dongfeng_gateway, B_ROOMS)):
            for words in ("消防检查", "垃圾分类宣传"):
                received = Counter(e["room"] for e in relays(account, words))
                assert received == Counter(own_rooms), (words, received)  # once each, and only its own rooms
            sent = [e for e in account.said if e["text"].startswith("【通知】")]
            assert all(e["text"].startswith("【通知】斜土街道 N") for e in sent)
            gaps = [later["at"] - earlier["at"] for earlier, later in pairwise(sent)]
            print(
                f"{'江南' if account is gateway else '东风'}: gaps " + ", ".join(f"{gap:.2f}" for gap in gaps)
            )
            assert min(gaps) >= 0.9  # the configured 1 s, less the transport's jitter in timing it
        print(f"killed after {killed_after} of {ROOMS}; standby logged in {took_over:.1f} s later")
        assert took_over < TAKEOVER_LIMIT
        assert "took over 江南新村居民区" in standby.output()
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.stop()
        dongfeng_gateway.kill()
