"""The command line as operators use it: replay, parse, console, demo, export; mistakes are one line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import inspect

from bot.cli import main
from storage.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
PARSE_KEYS = {
    "is_report",
    "kind",
    "category",
    "building",
    "unit",
    "people",
    "households",
    "origin",
    "date",
    "missing",
    "lines",
}


def qinlin(
    *args: str,
    stdin: str | None = None,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`qinlin ARGS` as an operator types it, run in this process: the same entry point
    (bot.cli.main: its one-line errors and exit codes), without paying a Python start-up, the
    imports and a jieba load per call. One test below still runs the real `python -m bot`."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdin, os.getcwd(), os.environ.copy()
    sys.argv, sys.stdin = ["qinlin", *args], io.StringIO(stdin or "")
    os.environ.update(env or {})
    os.chdir(cwd)
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv, sys.stdin = saved[0], saved[1]
        os.chdir(saved[2])
        os.environ.clear()
        os.environ.update(saved[3])
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(list(args), returncode, out.getvalue(), err.getvalue())


def python_m_bot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def migrated(path: Path) -> str:
    """A fresh SQLite database after `qinlin db upgrade` (done in-process: the same call, no start-up cost)."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def test_parse_one_message_prints_the_spec_schema() -> None:
    result = qinlin(
        "parse", "#家庭报告 3号楼201 返沪2人 来自武汉 1月20日", "--now", "2026-01-22T09:00:00+08:00"
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert set(parsed) == PARSE_KEYS
    assert parsed == {
        "is_report": True,
        "kind": "family",
        "category": "return",
        "building": "3",
        "unit": "201",
        "people": 2,
        "households": None,
        "origin": "武汉",
        "date": "2026-01-20",
        "missing": [],
        "lines": None,
    }


def test_parse_jsonl_reads_each_line() -> None:
    result = python_m_bot("parse", "--jsonl", stdin="登记 新搬来租户\n收到\n")  # the installed entry point
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["is_report"] for line in lines] == [True, False]
    assert lines[0]["missing"] == ["building", "unit"]
    assert lines[1]["kind"] is None


def test_replay_uses_message_times_and_paces_sends(tmp_path: Path) -> None:
    recording = tmp_path / "day.jsonl"
    records = [
        {
            "ts": "2026-11-22T09:00:00+08:00",
            "room": "江南新村3号楼",
            "from": "孙师傅",
            "text": "#家庭报告 3号楼201 返沪2人",
        },
        {
            "ts": "2026-11-22T09:00:00+08:00",
            "room": "江南新村3号楼",
            "from": "周老师",
            "text": "#家庭报告 3号楼202 返沪1人",
        },
        {"ts": "2026-11-22T09:00:01+08:00", "room": "江南新村3号楼", "from": "吴阿姨", "text": "登记 租户"},
        {"ts": "2026-11-22T09:20:00+08:00", "room": "江南新村3号楼", "from": "吴阿姨", "text": "302"},
        {"ts": "2026-11-22T23:30:00+08:00", "from": "路人甲", "text": "求助 3号楼402 老人摔倒了"},
        "not json at all",
    ]
    recording.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records[:-1]) + "\n", encoding="utf-8"
    )
    result = qinlin("replay", str(recording), "--db", migrated(tmp_path / "r.db"))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    # the 9:20 answer came too late for the 10-minute follow-up window: it is told so
    late = out.pop(3)
    assert late["ts"].startswith("2026-11-22T09:20") and late["text"].startswith("#3 的补充已超过10分钟")
    # the recurring 垃圾分类 reminder of config.yaml falls due at 18:00, between the recorded messages
    reminder = out.pop(3)
    assert reminder["ts"].startswith("2026-11-22T18:00") and reminder["to_room"] == "江南新村3号楼"
    assert "垃圾分类" in reminder["text"]
    assert [o["text"][:11] for o in out] == [
        "已登记 家庭报告 #1",
        "已登记 家庭报告 #2",
        "已收到 家庭报告 #3",
        "已登记 家庭报告 #4",
    ]
    assert out[0]["ts"].startswith("2026-11-22T09:00:00")
    assert out[1]["ts"] > out[0]["ts"]  # paced: never two sends in the same moment
    assert out[0]["to_room"] == "江南新村3号楼" and out[0]["to"] is None
    # the 23:30 private report is answered at once: a reply to someone awake is not held
    assert out[3]["to"] == "路人甲" and out[3]["to_room"] is None
    assert out[3]["ts"].startswith("2026-11-22T23:30")
    assert "5 messages read, 6 sent" in result.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(records[0], ensure_ascii=False) + "\nnot json at all\n", encoding="utf-8")
    failed = qinlin("replay", str(bad), "--db", migrated(tmp_path / "b.db"))
    assert failed.returncode == 2
    assert failed.stderr.strip() == "qinlin: line 2: not JSON (Expecting value)"


def test_impossible_recordings_are_one_line_not_a_traceback_or_a_hang(tmp_path: Path) -> None:
    def replay_of(name: str, content: bytes, *extra: str) -> subprocess.CompletedProcess:
        recording = tmp_path / name
        recording.write_bytes(content)
        return qinlin("replay", str(recording), "--db", migrated(tmp_path / (name + ".db")), *extra)

    def line(ts: str, text: str = "报告 3号楼201 返沪") -> bytes:
        record = {"ts": ts, "room": "江南新村3号楼", "from": "孙师傅", "text": text}
        return (json.dumps(record, ensure_ascii=False) + "\n").encode()

    cases = [
        (
            replay_of("year1.jsonl", line("0001-01-01T00:00:00+08:00")),
            "qinlin: line 1: timestamp '0001-01-01T00:00:00+08:00' is outside 2000-2099",
        ),
        (
            replay_of("year9999.jsonl", line("9999-12-31T20:00:00+08:00")),
            "qinlin: line 1: timestamp '9999-12-31T20:00:00+08:00' is outside 2000-2099",
        ),
        (
            replay_of(
                "gap.jsonl", line("2026-11-23T09:00:00+08:00", "早") + line("2036-11-23T09:00:00+08:00")
            ),
            "qinlin: line 2 (2036-11-23) is 3653 days after the previous message (at most 400): "
            "replay would run every daily job in between; split the recording",
        ),
        (
            replay_of(
                "until.jsonl", line("2026-11-23T09:00:00+08:00", "早"), "--until", "2030-01-01T00:00:00"
            ),
            "qinlin: --until is 1134 days after the previous message (at most 400): "
            "replay would run every daily job in between; split the recording",
        ),
        (
            replay_of("utf16.jsonl", "\ufeff{}\n".encode("utf-16")),
            f"qinlin: {tmp_path / 'utf16.jsonl'} is not UTF-8 text (save the recording as UTF-8)",
        ),
    ]
    for result, message in cases:
        assert (result.returncode, result.stderr.strip()) == (2, message)


def test_a_missing_file_and_an_unknown_period_are_one_line_and_an_unknown_command_is_refused(
    tmp_path: Path,
) -> None:
    result = qinlin("replay", str(tmp_path / "nope.jsonl"))
    assert (
        result.returncode == 2
        and result.stderr.strip() == f"qinlin: file not found: {tmp_path / 'nope.jsonl'}"
    )
    period = qinlin("export", "--period", "去年冬天", "--out", str(tmp_path / "x.xlsx"))
    assert (period.returncode, period.stderr.count("\n")) == (2, 1)
    assert period.stderr == (
        "qinlin: --period: cannot read '去年冬天'; give 今天, 本月, 2026-11 or 2026-11-01~2026-11-15\n"
    )
    assert not (tmp_path / "x.xlsx").exists()
    unknown = qinlin("frobnicate")
    assert (
        unknown.returncode == 2
        and "No such command 'frobnicate'" in unknown.stderr
        and "Traceback" not in unknown.stderr
    )


def test_start_up_refuses_an_unmigrated_database_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "new.db"
    recording = tmp_path / "day.jsonl"
    recording.write_text(
        '{"ts": "2026-11-22T09:00:00+08:00", "room": "江南新村3号楼", "from": "孙师傅", "text": "早"}\n',
        encoding="utf-8",
    )
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    for args, stdin in ((("replay", str(recording)), None), (("console",), ":quit\n")):
        result = qinlin(*args, "--db", f"sqlite:///{database}", stdin=stdin)
        assert (result.returncode, result.stderr.strip()) == (
            1,
            f"qinlin: database is at no revision, code expects {head}: run 'qinlin db upgrade'",
        ), args
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:  # refused, not migrated on the side
        assert not inspect(connection).get_table_names()
    engine.dispose()


def test_console_with_piped_stdin(tmp_path: Path) -> None:
    script = ":room 江南新村5号楼\n:as 孙师傅\n登记 新搬来租户 一家三口\n302\n:quit\n"
    result = qinlin("console", "--db", migrated(tmp_path / "c.db"), stdin=script)
    assert result.returncode == 0, result.stderr
    assert "请补充室号" in result.stdout
    assert "已登记 家庭报告 #1：5号楼302室" in result.stdout


def test_console_shows_a_recall_as_wechat_does(tmp_path: Path) -> None:
    script = (
        ":room 江南新村3号楼\n:as 张阿姨\n大家好\n:room 居委工作群\n:as 李书记\n:bind\n/绑定 工作群\n:as 王社工\n:bind\n"
        "#通知 3号楼 明天停水\n/撤回通知 N1\n:quit\n"
    )
    result = qinlin("console", "--db", migrated(tmp_path / "c.db"), stdin=script)
    assert result.returncode == 0, result.stderr
    assert "[江南新村3号楼] 亲邻助手: 【通知】江南新村居民区 N1" in result.stdout
    assert "[江南新村3号楼] 「亲邻助手」撤回了一条消息" in result.stdout
    assert "N1 撤回结果：所有群都已撤回或未发出。" in result.stdout


def test_roster_code_list_and_unbind(tmp_path: Path) -> None:
    """A fresh install: the first admin is bound from the command line, then shows as bound."""
    database = ["--db", f"sqlite:///{tmp_path / 'r.db'}"]
    listed = qinlin("roster", "list", *database)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"李书记\s+管理员\s+NOT BOUND: qinlin roster code 李书记", listed.stdout)
    assert re.search(r"张阿姨\s+居民\s+-", listed.stdout)
    issued = qinlin("roster", "code", "李书记", *database)
    assert issued.returncode == 0, issued.stderr
    code = re.search(r"code for 李书记 \(管理员\): (\d{8})", issued.stdout).group(1)
    script = f":as 李书记\n/待办\n/绑定 {code}\n/待办\n:quit\n"
    console = qinlin("console", *database, stdin=script)
    assert (
        console.stdout.count("抱歉，/待办 仅限社工使用。") == 1
        and "绑定成功：您是 李书记（管理员）" in console.stdout
    )
    assert re.search(
        r"李书记\s+管理员\s+bound \(code, wxid_李书记\)", qinlin("roster", "list", *database).stdout
    )
    unbound = qinlin("roster", "unbind", "李书记", *database)
    assert (unbound.returncode, unbound.stdout.strip()) == (
        0,
        "李书记 is no longer bound; give them a new code: qinlin roster code 李书记",
    )
    assert "NOT BOUND" in qinlin("roster", "list", *database).stdout.splitlines()[0]
    again = qinlin("roster", "unbind", "李书记", *database)
    assert (again.returncode, again.stderr.strip()) == (1, "qinlin: 李书记 has no WeChat contact bound")
    unknown = qinlin("roster", "code", "王小二", *database)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "qinlin: no one called 王小二 in the roster (add them to config.yaml or import a roster: "
        "qinlin roster import FILE)",
    )


def test_demo_runs_in_an_empty_folder(tmp_path: Path) -> None:
    """No config.yaml where it runs: the demo brings its own 江南新村."""
    result = qinlin("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    assert "[江南新村3号楼] 张阿姨: #家庭报告" in transcript
    assert "请补充室号" in transcript and "已更正" in transcript and "已登记接龙" in transcript
    said_by_bot = [line for line in transcript.splitlines() if "亲邻助手:" in line]
    assert said_by_bot and not any("13812345678" in line for line in said_by_bot)
    assert "小结：报告 8 条" in transcript
    assert "[江南新村5号楼] 亲邻助手: 【通知】江南新村居民区 N" in transcript
    assert "无人确认：江南新村5号楼" in transcript and "已办结 #1，已告知报告人。" in transcript
    # the 18:00 垃圾分类 reminder is an announcement: the 收到 after it count for the 17:50 notice
    assert "18:00:00 [江南新村3号楼] 亲邻助手: 【提示】垃圾分类定时投放时间到了" in transcript
    assert (
        "亲邻助手: N2 回执（共 3 个群，2 人确认）：" in transcript
        and "无人确认：江南新村5号楼\n" in transcript
    )
    (tmp_path / "empty.yaml").write_text("community: 幸福小区\n", encoding="utf-8")
    silent = qinlin("demo", "--config", "empty.yaml", cwd=tmp_path)
    assert (silent.returncode, silent.stderr.strip()) == (
        2,
        "qinlin: empty.yaml has no rooms or no people for the demo's 江南新村 day; run 'qinlin demo' without --config",
    )


def test_export_writes_a_ledger(tmp_path: Path) -> None:
    database = migrated(tmp_path / "e.db")
    recording = tmp_path / "day.jsonl"
    recording.write_text(
        json.dumps(
            {
                "ts": "2026-11-22T09:00:00+08:00",
                "room": "江南新村3号楼",
                "from": "孙师傅",
                "text": "#家庭报告 3号楼201 返沪2人",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    assert qinlin("replay", str(recording), "--db", database).returncode == 0
    out = tmp_path / "台帐.xlsx"
    result = qinlin("export", "--period", "2026-11", "--out", str(out), "--db", database)
    assert result.returncode == 0, result.stderr
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["汇总", "家庭报告", "楼组报告", "片区报告"]
    row = [cell.value for cell in workbook["家庭报告"][2]]
    assert (row[0], row[4], row[5]) == ("#1", "3", "201") and workbook["家庭报告"].max_row == 2


def test_operator_mistakes_are_one_line_with_a_non_zero_exit(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ok.db'}"
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("this is not SQLite")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    codes = "health,safety,animal,elderly,return,visitor,supplies,assistance,repair,parking,environment,proposal,other"
    cases = [
        (
            ("export", "--out", str(tmp_path / "台帐.csv"), "--db", database),
            2,
            f"qinlin: --out must name an .xlsx file, not {tmp_path / '台帐.csv'}",
        ),
        (
            ("export", "--out", str(a_file / "台帐.xlsx"), "--db", database),
            1,
            f"qinlin: cannot write {a_file / '台帐.xlsx'}: File exists",
        ),
        (
            ("export", "--db", f"sqlite:///{not_a_database}", "--out", str(tmp_path / "x.xlsx")),
            1,
            "qinlin: database: file is not a database",
        ),
        (
            ("purge", "--older-than", "0d", "--db", database),
            2,
            "qinlin: --older-than takes days from 1d to 36500d, like 28d; not '0d'",
        ),
        (
            ("purge", "--older-than", "99999999d", "--db", database),
            2,
            "qinlin: --older-than takes days from 1d to 36500d, like 28d; not '99999999d'",
        ),
        (
            ("purge", "--categories", "retrun,health", "--db", database),
            2,
            f"qinlin: unknown categories retrun; the codes are {codes}",
        ),
        (
            ("db", "upgrade", "--db", "mysql://nobody@127.0.0.1/x"),
            2,
            "qinlin: database: No module named 'MySQLdb'",
        ),
        (
            ("parse", "登记 3号楼201", "--jsonl"),
            2,
            "qinlin: give one TEXT or --jsonl (one message a line on stdin), not both",
        ),
        (("replay", str(tmp_path)), 2, f"qinlin: {tmp_path} is a folder, not a recording"),
        (
            ("purge", "--db", f"sqlite:///{a_file}/sub/q.db"),
            2,
            f"qinlin: database: cannot create the folder {a_file / 'sub'} for the SQLite file: Not a directory",
        ),
    ]
    for args, code, message in cases:
        result = qinlin(*args)
        assert (result.returncode, result.stderr.strip()) == (code, message), args
    refused = qinlin("purge", "--db", "postgresql://nobody@127.0.0.1:1/x")
    assert refused.returncode == 1 and refused.stderr.startswith("qinlin: database: ")
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    garbled = qinlin(
        "run", env={"WECHATY_PUPPET_SERVICE_ENDPOINT": "garbage:::/", "WECHATY_PUPPET_SERVICE_TOKEN": "x"}
    )
    assert (garbled.returncode, garbled.stderr.strip()) == (
        2,
        "qinlin: the puppet service endpoint should be HOST:PORT (e.g. 127.0.0.1:8788), not 'garbage:::/'",
    )


def test_console_bounds_waiting_and_names_unknown_speakers(tmp_path: Path) -> None:
    script = ":as 不存在的人\n:wait 99999d\n:wait 2d\n:quit\n"
    result = qinlin("console", "--db", migrated(tmp_path / "c.db"), stdin=script)
    assert result.returncode == 0, result.stderr
    assert "→ 以 不存在的人 的身份发言（config.yaml 里没有此人：按普通居民）" in result.stdout
    assert "最多等 400 天（:wait 400d）" in result.stdout
    assert re.search(r"→ 现在 20\d\d-\d\d-\d\d \d\d:\d\d", result.stdout)


def test_parse_jsonl_survives_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "parse", "--jsonl"],
        input=b"\xff\xfe\n\xe7\x99\xbb\xe8\xae\xb0 3\xe5\x8f\xb7\xe6\xa5\xbc201\n",
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        env={**__import__("os").environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [line["is_report"] for line in lines] == [False, True]


def test_the_operator_and_the_staff_are_told_the_same_problems_each_in_their_language() -> None:
    """Every roster and binding problem the web page and chat say in Chinese has its English line
    for the terminal, with the same values; the English lines name columns and values only."""
    import string

    import bot.cli
    import bot.texts

    def fields(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    for chinese, english in (
        (bot.texts.ROSTER_PROBLEMS, bot.cli.ROSTER_PROBLEMS),
        (bot.texts.BINDING_PROBLEMS, bot.cli.BINDING_PROBLEMS),
    ):
        assert set(chinese) == set(english)
        for code, template in english.items():
            assert fields(template) <= fields(chinese[code]) | {"max"}, code
            words = re.sub(r"姓名|角色|支部|楼号|室号|负责楼号|微信号|今天|本月", "", template)
            assert not re.search(r"[\u4e00-\u9fff]", words), code
