"""Run the Salesforce emulator in-process on a background thread (tests, demos).

Binds 127.0.0.1 unless told otherwise. simple-salesforce always builds ``https://`` URLs (and
login URLs on ``*.salesforce.com``), so :meth:`SandboxServer.http_session` returns a
``requests.Session`` that sends every ``https://`` request to the emulator over plain HTTP.
"""

from __future__ import annotations

from typing import Any

import requests

from crmpulse.httpserver import BackgroundServer
from crmpulse_salesforce.transport import make_session

from .app import create_app
from .org import Org
from .state import SandboxState


class SandboxServer(BackgroundServer):
    """A Salesforce emulator serving ``org`` on a background thread.

    Keyword ``options`` are :class:`~.state.SandboxState`'s (``session_token``, ``username``,
    ``password``, ``security_token``, ``consumer_key``, ``consumer_secret``, ``api_limit``,
    ``jwt_public_key``, ``enforce_field_security``); or pass a ready ``state``.

    >>> with SandboxServer(org) as server:
    ...     sf = Salesforce(instance_url=server.base_url, session_id=server.session_token,
    ...                     session=server.http_session())
    """

    def __init__(
        self,
        org: Org | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state: SandboxState | None = None,
        **options: Any,
    ) -> None:
        if state is None:
            state = SandboxState(org if org is not None else Org(), **options)
        elif (org is not None and org is not state.org) or options:
            raise TypeError("pass either a state or an org with options, not both")
        self.state = state
        self.org = state.org
        self.session_token = state.session_token
        super().__init__(create_app(state), host, port, name="salesforce-sandbox")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and stop delivering outbound messages."""
        super().stop(timeout)
        self.state.outbound.close()

    def http_session(self) -> requests.Session:
        """A session routing all ``https://`` (and ``http://``) traffic to this server: the
        connector's own transport, pointed at this server's ``http://`` URL."""
        return make_session(self.base_url)
