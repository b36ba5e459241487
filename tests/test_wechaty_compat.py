"""One test per compatibility patch, and the SDK importing at all."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdk_imports_after_the_compat_module() -> None:
    code = "import bot.wechaty_compat; import wechaty; print(wechaty.Wechaty.__name__)"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "Wechaty"


def test_puppet_options_is_hashable_so_dataclass_defaults_work() -> None:
    import bot.wechaty_compat  # noqa: F401 - before the SDK: it patches what the SDK needs at import
    from wechaty_puppet.schemas.puppet import PuppetOptions

    assert PuppetOptions.__hash__ is not None
    hash(PuppetOptions())


def test_pyee_exports_the_asyncio_emitter() -> None:
    import bot.wechaty_compat  # noqa: F401 - before the SDK: it patches what the SDK needs at import
    import pyee
    from pyee.asyncio import AsyncIOEventEmitter

    assert pyee.AsyncIOEventEmitter is AsyncIOEventEmitter


def test_urllib3_get_host_is_back() -> None:
    import bot.wechaty_compat  # noqa: F401 - before the SDK: it patches what the SDK needs at import
    import urllib3

    assert urllib3.get_host("https://weixin.qq.com:8443/x") == ("https", "weixin.qq.com", 8443)
    assert urllib3.get_host("example.org") == ("http", "example.org", None)


def test_telnet_stand_in_opens_a_tcp_connection() -> None:
    from bot.wechaty_compat import _Telnet

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    with _Telnet("127.0.0.1", port, timeout=2) as telnet:
        assert telnet.sock is not None
    server.close()


def test_the_sdks_endpoint_ping_makes_no_blocking_connect(monkeypatch) -> None:
    """The SDK pings the endpoint inside its async start; the transport has asked already, without
    blocking, so the SDK's ping must not connect (a blocking connect holds the event loop)."""
    import bot.wechaty_compat  # noqa: F401 - before the SDK: it patches what the SDK needs at import
    import wechaty_puppet_service.puppet as service

    def no_blocking_connect(*args, **kwargs):
        raise AssertionError("a blocking connect on the event loop")

    monkeypatch.setattr(socket, "create_connection", no_blocking_connect)
    monkeypatch.setattr(socket.socket, "connect", no_blocking_connect)
    assert service.ping_endpoint("127.0.0.1:9") is True
