"""The WeChat transport's edge: it leaves the process environment alone and never blocks the
event loop on a TCP connect."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from bot.app import Bot
from bot.config import Config


def test_connecting_writes_nothing_into_the_environment(
    bot: Bot, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    wechaty = config.wechaty.model_copy(
        update={"endpoint": "127.0.0.1:8788", "token": "puppet_service_token"}
    )
    before = dict(os.environ)
    transport = WechatyTransport(bot, config.model_copy(update={"wechaty": wechaty}))
    sdk = transport._new_sdk()
    assert dict(os.environ) == before
    # the SDK has what it needs from its options alone
    assert sdk.puppet.options.end_point == "127.0.0.1:8788"
    assert sdk.puppet.options.token == "puppet_service_token"


async def test_the_reachability_check_does_not_block_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.transports.wechaty_transport import endpoint_reachable

    server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def no_blocking_connect(*args, **kwargs):
        raise AssertionError("a blocking connect on the event loop")

    monkeypatch.setattr(socket, "create_connection", no_blocking_connect)
    assert await endpoint_reachable(f"127.0.0.1:{port}") is True
    server.close()
    await server.wait_closed()
    assert await endpoint_reachable(f"127.0.0.1:{port}") is False
    assert await endpoint_reachable("garbage:::/") is False
