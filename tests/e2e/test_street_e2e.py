"""One live `qinlin run` per area, over the real puppet service: a second process for the same
area stands by without logging in, and takes over within 30 s when the first is killed with
`kill -9` in the middle of a fan-out — every room gets the notice once, paced as before."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

from tests.e2e.conftest import BotProcess, Gateway, kill_between_sends, login, settled, wait_until

TAKEOVER_LIMIT = 30.0


def test_a_standby_for_the_same_area_takes_over_after_kill_9(gateway: Gateway, tmp_path: Path) -> None:
    buildings = [f"江南新村{n}号楼" for n in range(1, 11)]
    ids = {}
    for name in ("王社工", "张阿姨"):
        gateway.send(cmd="contact", name=name)
        ids[name] = gateway.expect("contact")["id"]
    for topic in buildings:
        gateway.send(cmd="room", topic=topic, members=["张阿姨"])
        gateway.expect("room")
    gateway.send(cmd="room", topic="居委工作群", members=["王社工"])
    ids["居委工作群"] = gateway.expect("room")["id"]

    first = BotProcess(gateway.port, tmp_path, "first.log", ids=ids)
    login(gateway, first)
    standby = BotProcess(gateway.port, tmp_path, "standby.log", ids=ids)
    try:
        wait_until(
            lambda: "standing by to take over" in standby.output(), 60, "the second process did not stand by"
        )
        lines = [line for line in standby.output().splitlines() if "standing by" in line]
        assert len(lines) == 1 and "江南新村居民区 is served by another process" in lines[0], standby.output()
        assert "logged in as" not in standby.output()

        gateway.send(
            cmd="say",
            **{"from": "王社工", "room": "居委工作群", "text": "#紧急通知 全体 明早7点起全楼核酸检测"},
        )
        relays = lambda: [e for e in gateway.said if e["text"].startswith("【紧急通知】")]  # noqa: E731
        wait_until(lambda: len(relays()) >= 3, 30, first.output()[-2000:])
        kill_between_sends(first, 3)
        killed_at = time.monotonic()
        killed_after = len(relays())

        login(gateway, standby, timeout=TAKEOVER_LIMIT + 30)
        took_over = time.monotonic() - killed_at
        assert "took over 江南新村居民区" in standby.output()
        wait_until(lambda: len(relays()) >= len(buildings), 60, standby.output()[-2000:])
        settled(standby, gateway)  # a relay sent twice has arrived by now
        rooms = [e["room"] for e in relays()]
        assert sorted(rooms) == sorted(buildings), rooms
        gaps = [later["at"] - earlier["at"] for earlier, later in pairwise(relays())]
        print(
            f"killed after {killed_after} of {len(buildings)}; standby logged in {took_over:.1f} s later; "
            "gaps: " + ", ".join(f"{gap:.2f}" for gap in gaps)
        )
        assert took_over < TAKEOVER_LIMIT
        assert min(gaps) >= 0.9
    finally:
        if standby.process.poll() is None:
            standby.stop()
