"""The HTTP session simple-salesforce runs on: every request counted, local servers reachable.

simple-salesforce builds every URL as ``https://`` (login hosts under ``*.salesforce.com``
included), so an ``http://`` instance URL — a local emulator or a test proxy — is reached by an
adapter that sends each request to that host over plain HTTP. Every request, whatever the API
(REST, Tooling, Bulk 2.0, logins), passes one adapter that asks a gate before sending it (the API
budget) and reports it afterwards, which is how API calls are counted and budgeted exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

RequestHook = Callable[[requests.PreparedRequest, requests.Response], None]
Finish = Callable[[requests.Response | None], None]
"""Told the response (``None`` when the request failed) of a request its gate let through."""
RequestGate = Callable[[requests.PreparedRequest], Finish]
"""Called before each request is sent; blocks or raises to hold it back."""


class CountingAdapter(HTTPAdapter):
    """Passes every request through ``gate`` and reports every response to ``hook``; with
    ``netloc``, sends requests there over HTTP."""

    def __init__(
        self,
        hook: RequestHook | None = None,
        netloc: str | None = None,
        gate: RequestGate | None = None,
        **kw: Any,
    ):
        self.hook = hook
        self.netloc = netloc
        self.gate = gate
        super().__init__(**kw)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Rewrite the target when redirecting, pass the gate, send, then report."""
        if self.netloc is not None:
            parts = urlsplit(request.url or "")
            request.url = urlunsplit(("http", self.netloc, parts.path, parts.query, parts.fragment))
        finish = self.gate(request) if self.gate is not None else None
        try:
            response = super().send(request, *args, **kwargs)
        except BaseException:
            if finish is not None:
                finish(None)
            raise
        if finish is not None:
            finish(response)
        if self.hook is not None:
            self.hook(request, response)
        return response


def make_session(
    instance_url: str | None,
    hook: RequestHook | None = None,
    gate: RequestGate | None = None,
) -> requests.Session:
    """A session for simple-salesforce; ``http://`` instance URLs get every request redirected.

    Local servers are reached directly, never through an environment proxy.
    """
    session = requests.Session()
    parts = urlsplit(instance_url or "")
    netloc = parts.netloc if parts.scheme == "http" else None
    if netloc is not None:
        session.trust_env = False
    adapter = CountingAdapter(hook, netloc, gate)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
