"""Run the emulator with uvicorn: in a daemon thread (tests) or in the foreground (CLI).

The listening socket is bound here, before uvicorn starts, so port 0 works and the chosen port is known at once.
`proxy_headers` is off (no proxy in front of a loopback emulator), `lifespan` is off (no start-up work) and
uvicorn's access log is off (the call log records every API call).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any, Literal

import uvicorn

HttpProtocol = Literal["auto", "h11", "httptools"]

DEFAULT_START_TIMEOUT_S = 10.0
DEFAULT_STOP_TIMEOUT_S = 10.0


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (`port` 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    """`http://host:port` (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_config(app: Any, log_level: str, http: HttpProtocol = "auto") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=http,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=2,
    )


class ThreadedServer:
    """uvicorn in a daemon thread, bound to `host:port` (port 0: a free one); `http` picks the protocol."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        http: HttpProtocol = "auto",
    ) -> None:
        self.app = app
        self.host = host
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.url = url_for(host, self.port)
        self._server = uvicorn.Server(_uvicorn_config(app, log_level, http))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"dbrx-emulator:{self.port}",
            daemon=True,
        )

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> ThreadedServer:
        """Start serving; returns once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator server thread stopped during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the emulator did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        self._sock.close()


def serve_foreground(app: Any, sock: socket.socket, log_level: str) -> None:
    """Serve on an already bound socket until SIGINT/SIGTERM (uvicorn installs the signal handlers)."""
    uvicorn.Server(_uvicorn_config(app, log_level)).run(sockets=[sock])
