"""Start the Salesforce emulator on a synthetic world: in-process or in the foreground."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import uvicorn

from crmpulse.synth import generate

from .app import DEFAULT_TOKEN, SandboxState, create_app
from .org import ORG_ID, Org
from .seed import load
from .server import SandboxServer

log = logging.getLogger("crmpulse.sandbox")


def build_org(seed: int, scale: str, as_of: datetime | None = None) -> Org:
    """An org holding the synthetic world ``crmpulse.synth.generate(seed, scale, as_of)``."""
    org = Org()
    world = generate(seed=seed, scale=scale, as_of=as_of, source=f"salesforce:{ORG_ID}")
    load(org, world.records())
    return org


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
    """Serve a synthetic world in-process; the context value is the instance URL."""
    org = build_org(seed, scale, as_of)
    with SandboxServer(org, host=host, port=port, session_token=token) as server:
        yield server.base_url


def serve(
    *, seed: int, scale: str, as_of: datetime | None, token: str, host: str, port: int
) -> None:
    """Serve a synthetic world in the foreground until interrupted."""
    org = build_org(seed, scale, as_of)
    app = create_app(SandboxState(org, session_token=token))
    rows = sum(len(t) for t in org.rows.values())
    log.info("Salesforce sandbox on http://%s:%d (%d rows)", host, port, rows)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="off")
