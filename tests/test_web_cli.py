"""`qinlin web` from the command line: it serves the login page; a port in use is one line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.test_cli import ROOT


def _config(tmp_path: Path) -> Path:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///data/qinlin.db", f"sqlite:///{tmp_path / 'q.db'}")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    upgraded = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _qinlin(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = _qinlin("web", "--config", str(_config(tmp_path)), "--port", str(port))
        _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    line = f"qinlin: port {port} on 127.0.0.1 is already in use (another qinlin web?); choose another with --port"
    assert err.strip().splitlines() == [line]


def test_qinlin_web_serves_the_login_page_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    process = _qinlin("web", "--config", str(_config(tmp_path)), "--port", str(port))
    try:
        deadline = time.monotonic() + 120  # start-up imports; the page itself answers at once
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert "亲邻助手工作台" in page and "/登录" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/desk.css", timeout=5) as answer:
            assert answer.status == 200
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_run_with_web_on_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--web",
                "--port",
                str(port),
                "--config",
                str(_config(tmp_path)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **__import__("os").environ,
                "PYTHONPATH": str(ROOT),
                "WECHATY_PUPPET_SERVICE_ENDPOINT": "127.0.0.1:9",
                "WECHATY_PUPPET_SERVICE_TOKEN": "test",
            },
        )
        _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.strip().splitlines()[-1].startswith(f"qinlin: port {port} on 127.0.0.1 is already in use")
