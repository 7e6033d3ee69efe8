"""Run the Salesforce emulator in-process on a background thread (tests, demos).

Binds 127.0.0.1 unless told otherwise. simple-salesforce always builds ``https://`` URLs (and
login URLs on ``*.salesforce.com``), so :meth:`SandboxServer.http_session` returns a
``requests.Session`` that sends every ``https://`` request to the emulator over plain HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import uvicorn
from requests.adapters import HTTPAdapter

from .app import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    SandboxState,
    create_app,
)
from .org import Org


class LocalRedirectAdapter(HTTPAdapter):
    """Send every request it handles to ``http://<netloc>``, keeping path and query."""

    def __init__(self, netloc: str, **kwargs: Any) -> None:
        self.netloc = netloc
        super().__init__(**kwargs)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Rewrite the URL's scheme and host, then send as usual."""
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(("http", self.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, *args, **kwargs)


class SandboxServer:
    """A Salesforce emulator serving ``org`` on a background thread.

    >>> with SandboxServer(org) as server:
    ...     sf = Salesforce(instance_url=server.base_url, session_id=server.session_token,
    ...                     session=server.http_session())
    """

    def __init__(
        self,
        org: Org,
        host: str = "127.0.0.1",
        port: int = 0,
        session_token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        *,
        security_token: str = "",
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        api_limit: int = 15000,
    ) -> None:
        self.org = org
        self.host = host
        self.session_token = session_token
        self.state = SandboxState(
            org,
            session_token=session_token,
            username=username,
            password=password,
            security_token=security_token,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            api_limit=api_limit,
        )
        self.app = create_app(self.state)
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    def http_session(self) -> requests.Session:
        """A session routing all ``https://`` (and ``http://``) traffic to this server."""
        session = requests.Session()
        session.trust_env = False
        adapter = LocalRedirectAdapter(f"{self.host}:{self.port}")
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

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
            name=f"salesforce-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Salesforce sandbox failed to start")
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
