"""The bot over the real Wechaty gRPC protocol: a Node puppet service with mock residents."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import (
    ROOT,
    TOKEN,
    BotProcess,
    Gateway,
    free_port,
    kill_between_sends,
    login,
    migrated_sqlite,
    settled,
    wait_until,
)

pytestmark = pytest.mark.e2e

PEOPLE = ["张阿姨", "孙师傅", "周老师", "赵党员", "王社工", "郑老伯", "李书记"]
ROOMS = {
    "江南新村3号楼": ["张阿姨", "郑老伯"],
    "江南新村5号楼": ["孙师傅"],
    "江南新村48号楼": ["周老师"],
    "第2党支部": ["赵党员"],
    "居委工作群": ["王社工"],
}


def populate(gateway: Gateway, ids: dict[str, str] | None = None) -> dict[str, str]:
    """Contacts and rooms; given the ids of an earlier gateway, the same ones (WeChat ids are stable)."""
    known = dict(ids or {})
    for name in PEOPLE:
        gateway.send(cmd="contact", name=name, **({"id": known[name]} if name in known else {}))
        known[name] = gateway.expect("contact")["id"]
    for topic, members in ROOMS.items():
        gateway.send(
            cmd="room", topic=topic, members=members, **({"id": known[topic]} if topic in known else {})
        )
        known[topic] = gateway.expect("room")["id"]
    return known


def test_a_morning_over_grpc(gateway: Gateway, tmp_path: Path) -> None:
    ids = populate(gateway)
    started = time.monotonic()
    bot = BotProcess(gateway.port, tmp_path, ids=ids, bind=("赵党员",))
    try:
        login(gateway, bot)
        login_seconds = time.monotonic() - started

        def said(room: str | None, starts: str, to: str | None = None):
            return gateway.wait_for_reply(
                lambda e: e["room"] == room and e["text"].startswith(starts) and (to is None or e["to"] == to)
            )

        # 王社工 is staff in config.yaml, but a name proves nothing: refused until bound by a code
        gateway.send(cmd="say", **{"from": "王社工", "room": "居委工作群", "text": "/待办"})
        said("居委工作群", "抱歉，/待办 仅限社工使用。您在名册中是社工，但这个微信号还没有绑定。")
        code = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "roster",
                "code",
                "王社工",
                "--config",
                str(tmp_path / "config.yaml"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert code.returncode == 0, code.stderr
        digits = code.stdout.split(": ", 1)[1][:8]
        gateway.send(cmd="say", **{"from": "王社工", "room": None, "text": f"/绑定 {digits}"})
        said(None, "绑定成功：您是 王社工（社工）")
        # an impostor calling itself 李书记 (the admin in config.yaml, not bound) gets nothing
        gateway.send(cmd="say", **{"from": "李书记", "room": None, "text": "/绑定码 赵党员"})
        said(None, "抱歉，/绑定码 仅限管理员使用。您在名册中是管理员")

        gateway.send(
            cmd="say",
            **{"from": "张阿姨", "room": "江南新村3号楼", "text": "#家庭报告 3号楼201 返沪2人 来自武汉"},
        )
        said("江南新村3号楼", "已登记 家庭报告 #1：3号楼201室｜返沪登记｜2人｜来自武汉")
        gateway.send(
            cmd="say", **{"from": "孙师傅", "room": "江南新村5号楼", "text": "登记 新搬来租户 一家三口"}
        )
        said("江南新村5号楼", "已收到 家庭报告 #2，请补充室号")
        # a voice message where the room number was expected: asked for text, the report waits
        gateway.send(cmd="say_file", **{"from": "孙师傅", "room": "江南新村5号楼", "name": "voice.sil"})
        said("江南新村5号楼", "抱歉，语音无法登记，请用文字回复")
        # a photo in another room: seen, no reply, nothing breaks
        gateway.send(cmd="say_file", **{"from": "周老师", "room": "江南新村48号楼", "name": "photo.jpg"})
        gateway.send(cmd="say", **{"from": "孙师傅", "room": "江南新村5号楼", "text": "302"})
        said("江南新村5号楼", "已登记 家庭报告 #2：5号楼302室")
        gateway.send(
            cmd="say",
            **{"from": "周老师", "room": "江南新村48号楼", "text": "【楼组报告】48号楼门牌太不显眼"},
        )
        said("江南新村48号楼", "已登记 楼组报告 #3：48号楼｜设施报修")

        gateway.send(cmd="say", **{"from": "赵党员", "room": "第2党支部", "text": "/帮助"})
        said("第2党支部", "亲邻助手")
        # 赵党员 is party by name from config.yaml; a notice to two building rooms
        gateway.send(
            cmd="say", **{"from": "赵党员", "room": "第2党支部", "text": "#通知 3号楼 5号楼 明天上午9点停水"}
        )
        said("第2党支部", "已排队发送 N")
        relay3 = said("江南新村3号楼", "【通知】江南新村居民区 N")
        said("江南新村5号楼", "【通知】江南新村居民区 N")
        number = re.search(r"N(\d+)", relay3["text"]).group(1)  # 【通知】江南新村居民区 N1｜赵党员（党员）
        gateway.send(cmd="say", **{"from": "张阿姨", "room": "江南新村3号楼", "text": "收到"})
        gateway.send(cmd="say", **{"from": "郑老伯", "room": "江南新村3号楼", "text": "收到👌"})
        wait_until(
            lambda: bot.count("SELECT count(*) FROM notice_acks") == 2, 20, "the two 收到 were not counted"
        )
        gateway.send(cmd="say", **{"from": "赵党员", "room": "第2党支部", "text": f"/回执 N{number}"})
        receipt = said("第2党支部", f"N{number} 回执")
        assert "江南新村3号楼：2 人" in receipt["text"] and "无人确认：江南新村5号楼" in receipt["text"]
        # the notice had the wrong time: 赵党员 takes it back from both rooms over gRPC
        gateway.send(cmd="say", **{"from": "赵党员", "room": "第2党支部", "text": f"/撤回通知 N{number}"})
        said("第2党支部", f"N{number} 撤回：2 个群正在撤回")
        recalled = {gateway.expect("bot_recalled")["id"], gateway.expect("bot_recalled")["id"]}
        relay5 = said("江南新村5号楼", "【通知】江南新村居民区 N")
        assert recalled == {relay3["id"], relay5["id"]}
        said("第2党支部", f"N{number} 撤回结果：所有群都已撤回或未发出。")

        gateway.send(cmd="say", **{"from": "王社工", "room": "居委工作群", "text": "/汇总"})
        summary = said("居委工作群", "全居民区 · 今天")
        assert "报告 3 条" in summary["text"]

        # the gateway dies mid-scenario; a resident writes while it is down is impossible, but the
        # bot's queued answer must survive: queue a ledger, kill, restart, log in again
        gateway.send(cmd="say", **{"from": "王社工", "room": "居委工作群", "text": "/导出"})
        ledger = gateway.wait_for_reply(lambda e: e["room"] == "居委工作群" and e["file"])
        book = load_workbook(ledger["file"])
        assert book.sheetnames == ["汇总", "家庭报告", "楼组报告", "片区报告"]
        row = [c.value for c in book["家庭报告"][2]][:6]
        assert row[:1] + row[2:] == ["#1", "返沪登记", "待处理", "3", "201"]
        assert isinstance(row[1], datetime) and abs(
            row[1] - datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
        ) < timedelta(hours=1)

        # a staff notice to three building rooms; the gateway dies after the first relay arrived,
        # comes back, and the rest arrive — each room exactly once, nothing queued lost
        gateway.send(
            cmd="say",
            **{
                "from": "王社工",
                "room": "居委工作群",
                "text": "#紧急通知 3号楼 5号楼 48号楼 今晚8点停电检修",
            },
        )
        first = gateway.wait_for_reply(lambda e: e["text"].startswith("【紧急通知】"))
        gateway.kill()
        restarted = Gateway(gateway.port)
        populate(restarted, ids)
        login(restarted, bot)
        deadline = time.monotonic() + 40

        def relays() -> list[str]:
            return [e["room"] for e in gateway.said + restarted.said if e["text"].startswith("【紧急通知】")]

        while time.monotonic() < deadline and len(relays()) < 3:
            time.sleep(0.1)
        assert sorted(relays()) == ["江南新村3号楼", "江南新村48号楼", "江南新村5号楼"], (first, relays())
        restarted.send(cmd="say", **{"from": "张阿姨", "room": "江南新村3号楼", "text": "求助 需要买菜"})
        restarted.wait_for_reply(
            lambda e: e["room"] == "江南新村3号楼" and e["text"].startswith("已登记 家庭报告 #4：3号楼201室"),
            timeout=30,
        )
        restarted.kill()
        print(f"login after {login_seconds:.2f} s")
    finally:
        code = bot.stop()  # SIGTERM
    assert code == 0, bot.output()[-2000:]
    assert "stopped" in bot.output().splitlines()[-1]
    assert not [e for e in gateway.said if e["room"] == "江南新村48号楼" and "图片" in e["text"]]


def test_run_without_a_listening_service_says_so_and_exits(tmp_path: Path) -> None:
    port = free_port()
    # a digest time just passed: on a first start the digest is due at once, and the stop cancels
    # it mid-ring (APScheduler used to log that as a job error with a traceback)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    just_passed = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0))
    (tmp_path / "config.yaml").write_text(
        f'database: {{url: "{migrated_sqlite(tmp_path / "q.db")}"}}\ndigest: {{time: "{just_passed:%H:%M}"}}\n',
        encoding="utf-8",
    )
    env = {
        "WECHATY_PUPPET_SERVICE_ENDPOINT": f"127.0.0.1:{port}",
        "WECHATY_PUPPET_SERVICE_TOKEN": TOKEN,
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"qinlin: nothing is listening at 127.0.0.1:{port}: is the puppet service running?"
    )
    assert "Traceback" not in result.stderr


def test_run_without_endpoint_or_token_exits_2(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("community: 测试\n", encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "WECHATY_PUPPET_SERVICE_ENDPOINT" in result.stderr and "Traceback" not in result.stderr


def test_wrong_token_is_one_line_after_the_startup_timeout(gateway: Gateway, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        f'database: {{url: "{migrated_sqlite(tmp_path / "q.db")}"}}\nwechaty: {{startup_timeout_seconds: 2}}\n',
        encoding="utf-8",
    )
    env = {
        "WECHATY_PUPPET_SERVICE_ENDPOINT": f"127.0.0.1:{gateway.port}",
        "WECHATY_PUPPET_SERVICE_TOKEN": "wrong",
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=90,
    )
    assert result.returncode == 1
    assert "no WeChat login within 2 s" in result.stderr.strip().splitlines()[-1]


def test_kill_9_mid_fan_out_resumes_and_each_room_gets_the_notice_once(
    gateway: Gateway, tmp_path: Path
) -> None:
    """`kill -9` of the bot between two sends of a 12-room fan-out; a new process on the same
    database sends the rest: every building room receives the notice exactly once."""
    buildings = [f"江南新村{n}号楼" for n in range(1, 13)]
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
    gateway.send(
        cmd="say", **{"from": "王社工", "room": "居委工作群", "text": "#紧急通知 全体 明早7点起全楼核酸检测"}
    )
    relays = lambda: [e for e in gateway.said if e["text"].startswith("【紧急通知】")]  # noqa: E731
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(relays()) < 4:
        time.sleep(0.02)
    assert len(relays()) == 4, first.output()[-2000:]
    kill_between_sends(first, 4)
    killed_after = len(relays())

    # The SDK stops and restarts the service's puppet when it connects, which logs the mock
    # account out; a real puppet logs back in from its saved session, the mock is told to.
    second = BotProcess(gateway.port, tmp_path, "second.log", ids=ids)
    try:
        login(gateway, second)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(relays()) < len(buildings):
            if second.process.poll() is not None:
                raise AssertionError(second.output()[-2000:])
            time.sleep(0.1)
        settled(second, gateway)  # a relay sent twice has arrived by now
        rooms = [e["room"] for e in relays()]
        assert sorted(rooms) == sorted(buildings), rooms
        gaps = [later["at"] - earlier["at"] for earlier, later in zip(relays(), relays()[1:])]
        print(
            f"killed after {killed_after} of {len(buildings)}; gaps between relays: "
            + ", ".join(f"{gap:.2f}" for gap in gaps)
        )
        assert min(gaps) >= 0.9  # the outbox paces by the time of the last send, also across the restart
    finally:
        assert second.stop() == 0, second.output()[-2000:]


def test_kill_9_while_wechat_is_slow_to_acknowledge_sends_each_room_once(
    gateway: Gateway, tmp_path: Path
) -> None:
    """WeChat takes 1.5 s to acknowledge each send; the bot is killed while one acknowledgement
    is pending. The message did go out — the service echoed it back — so the next process must
    not send it again, and the rest of the fan-out goes out in order."""
    buildings = [f"江南新村{n}号楼" for n in range(1, 7)]
    ids = {}
    for name in ("王社工", "张阿姨"):
        gateway.send(cmd="contact", name=name)
        ids[name] = gateway.expect("contact")["id"]
    for topic in buildings:
        gateway.send(cmd="room", topic=topic, members=["张阿姨"])
        gateway.expect("room")
    gateway.send(cmd="room", topic="居委工作群", members=["王社工"])
    ids["居委工作群"] = gateway.expect("room")["id"]
    gateway.send(cmd="slow_acks", ms=1500)
    gateway.expect("slow_acks")

    first = BotProcess(gateway.port, tmp_path, "first.log", claim_seconds=5, ids=ids)
    login(gateway, first)
    gateway.send(
        cmd="say", **{"from": "王社工", "room": "居委工作群", "text": "#紧急通知 全体 明早7点起全楼停水"}
    )
    relays = lambda: [e for e in gateway.said if e["text"].startswith("【紧急通知】")]  # noqa: E731
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(relays()) < 2:
        time.sleep(0.02)
    assert len(relays()) == 2, first.output()[-2000:]
    time.sleep(0.7)  # the second relay is out and echoed; its acknowledgement is still on its way
    first.kill_hard()
    killed_after = len(relays())

    second = BotProcess(gateway.port, tmp_path, "second.log", claim_seconds=5, ids=ids)
    try:
        login(gateway, second)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(relays()) < len(buildings):
            if second.process.poll() is not None:
                raise AssertionError(second.output()[-2000:])
            time.sleep(0.1)
        settled(second, gateway)  # the dead process's claim is settled: a relay sent twice has arrived
        rooms = [e["room"] for e in relays()]
        print(f"killed after {killed_after} of {len(buildings)} (one acknowledgement pending)")
        assert sorted(rooms) == sorted(buildings), (rooms, second.output()[-3000:])
    finally:
        assert second.stop() == 0, second.output()[-2000:]
