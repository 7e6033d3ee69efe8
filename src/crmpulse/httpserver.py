"""What both CRM emulators share: a background uvicorn runner and the call counter.

The runner binds 127.0.0.1 unless told otherwise, on a free port when ``port`` is 0.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Any, Self

import uvicorn


class BackgroundServer:
    """Serve ``app`` on a daemon thread; as a context manager, started and stopped around use."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        """Bind, start serving, and return once requests are accepted."""
        # proto must say TCP: asyncio only disables Nagle on sockets whose proto is IPPROTO_TCP,
        # and without TCP_NODELAY every keep-alive response stalls ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} failed to start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RouteStats:
    """Counts calls per (method, route template, status), for benchmarks and quota tests."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, route: str, status: int) -> None:
        """Count one call."""
        with self._lock:
            self._counts[(method, route, status)] += 1

    @property
    def total(self) -> int:
        """All calls counted."""
        return sum(self._counts.values())

    def to_json(self) -> dict[str, Any]:
        """``{"total": n, "calls": [{"method", "route", "status", "count"}]}``."""
        calls = [
            {"method": m, "route": r, "status": s, "count": c}
            for (m, r, s), c in sorted(self._counts.items())
        ]
        return {"total": self.total, "calls": calls}

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()
