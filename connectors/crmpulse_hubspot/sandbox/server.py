"""Run the emulator: in-process on a background thread (tests, demos) or in the foreground (CLI).

Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType

import uvicorn

from .app import DEFAULT_TOKEN, SandboxState, create_app
from .limits import RateLimits
from .portal import DEFAULT_PORTAL_ID, Portal

log = logging.getLogger(__name__)


class SandboxServer:
    """A HubSpot emulator serving ``portal`` on a background thread.

    >>> with SandboxServer(portal) as server:
    ...     client = hubspot.HubSpot(access_token=server.token, host=server.base_url)
    """

    def __init__(
        self,
        portal: Portal,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        *,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.portal = portal
        self.host = host
        self.token = token
        self.app = create_app(portal, token=token, limits=limits, clock=clock)
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        """The app's shared state (stats, faults, limiter)."""
        state: SandboxState = self.app.state.sandbox
        return state

    def start(self, timeout: float = 10.0) -> SandboxServer:
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
            name=f"hubspot-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HubSpot sandbox failed to start")
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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    portal: Portal,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str = DEFAULT_TOKEN,
    *,
    limits: RateLimits | None = None,
) -> None:
    """Serve ``portal`` in the foreground until interrupted (``crmpulse sandbox hubspot``)."""
    app = create_app(portal, token=token, limits=limits)
    log.info("HubSpot sandbox on http://%s:%d (portal %d)", host, port, portal.portal_id)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="off")


def build_portal(
    seed: int, scale: str, as_of: datetime | None = None, *, portal_id: int = DEFAULT_PORTAL_ID
) -> Portal:
    """A portal holding the synthetic world ``crmpulse.synth.generate(seed, scale, as_of)``.

    Falls back to the small built-in demo world when ``crmpulse.synth`` is not installed.
    """
    source = f"hubspot:{portal_id}"
    try:
        from crmpulse.synth import generate  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        from .demo import AS_OF, demo_records

        log.warning("crmpulse.synth not available; serving the built-in demo world")
        records = demo_records(seed, as_of=as_of or AS_OF, source=source)
        return Portal.from_records(records, portal_id=portal_id)
    world = generate(seed=seed, scale=scale, as_of=as_of, source=source)
    records = itertools.chain(
        world.accounts(),
        world.contacts(),
        world.deals(),
        world.tickets(),
        world.activities(),
        world.surveys(),
    )
    return Portal.from_records(records, portal_id=portal_id)


@contextmanager
def running(
    *,
    seed: int,
    scale: str,
    as_of: datetime | None,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Serve a synthetic world in-process; the context value is the base URL."""
    with SandboxServer(build_portal(seed, scale, as_of), host, port, token) as server:
        yield server.base_url


def serve(
    *,
    seed: int,
    scale: str,
    as_of: datetime | None,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Build a synthetic world and serve it in the foreground (the CLI's entry point)."""
    serve_forever(build_portal(seed, scale, as_of), host, port, token)
