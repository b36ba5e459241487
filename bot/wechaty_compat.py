"""Make the wechaty 0.10.7 Python SDK importable on today's Python and libraries.

Import this module before ``wechaty``; each patch is applied only when it is needed and has a
test in tests/test_wechaty_compat.py. Nothing else in the project imports wechaty except the
WeChat transport.

1. Python 3.11 refuses a dataclass field whose default is an unhashable instance
   (``WechatyOptions.puppet_options = PuppetOptions()``): give PuppetOptions identity hashing.
2. pyee ≥ 9 moved ``AsyncIOEventEmitter`` to ``pyee.asyncio``: re-export it at the top level.
3. urllib3 ≥ 2 dropped ``get_host``: provide it from ``urllib3.util.parse_url`` (no need to pin
   an old, insecure urllib3).
4. Python 3.13 has no ``telnetlib`` and 3.11 warns on importing it (the SDK pings the endpoint
   with it): a minimal stand-in that opens and closes a TCP connection.
5. The SDK's start pings the endpoint with that blocking connect (up to 3 s) on the event loop,
   holding every other task. The transport asks the same question without blocking just before
   it starts the SDK (``endpoint_reachable``), so the SDK's own ping answers yes at once.
"""

from __future__ import annotations

import socket
import sys
import types


def _patch_puppet_options() -> None:
    from wechaty_puppet.schemas.puppet import PuppetOptions

    if PuppetOptions.__hash__ is None:
        PuppetOptions.__hash__ = object.__hash__


def _patch_pyee() -> None:
    import pyee

    if not hasattr(pyee, "AsyncIOEventEmitter"):
        from pyee.asyncio import AsyncIOEventEmitter

        pyee.AsyncIOEventEmitter = AsyncIOEventEmitter  # type: ignore[attr-defined]


def get_host(url: str) -> tuple[str, str | None, int | None]:
    """urllib3 1.x ``get_host``: (scheme, host, port), scheme defaulting to http."""
    from urllib3.util import parse_url

    parsed = parse_url(url)
    return parsed.scheme or "http", parsed.hostname, parsed.port


def _patch_urllib3() -> None:
    import urllib3

    if not hasattr(urllib3, "get_host"):
        urllib3.get_host = get_host  # type: ignore[attr-defined]


class _Telnet:
    """Just enough of telnetlib.Telnet for the SDK's reachability ping."""

    def __init__(self, host: str | None = None, port: int = 0, timeout: float = 10.0) -> None:
        self.sock: socket.socket | None = None
        if host is not None:
            self.open(host, port, timeout)

    def open(self, host: str, port: int = 0, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> _Telnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _patch_telnetlib() -> None:
    # The stand-in is used on every Python: 3.13 has no telnetlib, 3.11-3.12 warn on its import.
    if "telnetlib" not in sys.modules:
        module = types.ModuleType("telnetlib")
        module.Telnet = _Telnet  # type: ignore[attr-defined]
        sys.modules["telnetlib"] = module


def _already_checked(end_point: str) -> bool:
    return True


def _patch_endpoint_ping() -> None:
    import wechaty_puppet_service.puppet as service

    service.ping_endpoint = _already_checked


def apply() -> None:
    _patch_telnetlib()
    _patch_pyee()
    _patch_urllib3()
    _patch_puppet_options()
    _patch_endpoint_ping()


apply()
