"""Start the Salesforce emulator on a synthetic world: in-process or in the foreground."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import uvicorn

from crmpulse.synth import World, generate

from .app import DEFAULT_TOKEN, SandboxState, create_app
from .org import ORG_ID, Org
from .seed import Loader, load
from .server import SandboxServer

log = logging.getLogger("crmpulse.sandbox")


def build_org(seed: int, scale: str, as_of: datetime | None = None) -> Org:
    """An org holding the synthetic world ``crmpulse.synth.generate(seed, scale, as_of)``."""
    return build_world(seed, scale, as_of)[0]


def build_world(seed: int, scale: str, as_of: datetime | None = None) -> tuple[Org, World, Loader]:
    """An org holding a synthetic world, the world and the loader that seeded it (so
    ``/_sandbox/scenario`` can move the world forward)."""
    org = Org()
    world = generate(seed=seed, scale=scale, as_of=as_of, source=f"salesforce:{ORG_ID}")
    loader = load(org, world.records())
    return org, world, loader


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
    org, world, loader = build_world(seed, scale, as_of)
    state = SandboxState(org, session_token=token, world=world, loader=loader)
    with SandboxServer(host=host, port=port, state=state) as server:
        yield server.base_url


def serve(
    *, seed: int, scale: str, as_of: datetime | None, token: str, host: str, port: int
) -> None:
    """Serve a synthetic world in the foreground until interrupted."""
    org, world, loader = build_world(seed, scale, as_of)
    app = create_app(SandboxState(org, session_token=token, world=world, loader=loader))
    rows = sum(len(t) for t in org.rows.values())
    log.info("Salesforce sandbox on http://%s:%d (%d rows)", host, port, rows)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="off")
