"""Serving the workbench: on its own (``qinlin web``) or beside the bot (``qinlin run --web``)."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Config


class PortTaken(Exception):
    """The address cannot be bound: said in one line by the command line."""


def bind(host: str, port: int) -> socket.socket:
    """Bind before starting, so a port in use is one clear line instead of a server traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortTaken(
                f"port {port} on {host} is already in use (another qinlin web?); choose another with --port"
            ) from None
        raise PortTaken(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def server_for(
    config: Config,
    engine: Engine,
    clock: Clock,
    on_queued: Callable[[], None] | None = None,
    factory: sessionmaker[Session] | None = None,
) -> uvicorn.Server:
    from web.app import create_app

    app = create_app(config, engine, clock, on_queued=on_queued, factory=factory)
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))


def serve_forever(server: uvicorn.Server, sock: socket.socket) -> None:
    server.run(sockets=[sock])


def serve_in_thread(server: uvicorn.Server, sock: socket.socket) -> threading.Thread:
    """Beside the bot: its own thread and event loop, so the bot's loop is never blocked by a
    page and the bot keeps its own signal handling (uvicorn installs none outside the main thread)."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="qinlin-web", daemon=True)
    thread.start()
    return thread
