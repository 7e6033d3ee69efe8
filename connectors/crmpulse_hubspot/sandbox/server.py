"""Run the emulator: in-process on a background thread (tests, demos) or in the foreground (CLI).

Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import uvicorn

from crmpulse.httpserver import BackgroundServer

from .app import DEFAULT_TOKEN, SandboxState, create_app
from .delivery import RetryPolicy
from .limits import RateLimits
from .portal import DEFAULT_PORTAL_ID, Portal
from .webhooks import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY

log = logging.getLogger(__name__)


class SandboxServer(BackgroundServer):
    """A HubSpot emulator serving ``portal`` on a background thread.

    >>> with SandboxServer(portal) as server:
    ...     client = hubspot.HubSpot(access_token=server.token, host=server.base_url)

    ``custom_objects=False`` makes the portal a tier without custom objects (below Enterprise):
    creating a schema then answers 403 ``MISSING_SCOPES``. ``app_id``, ``developer_key`` and
    ``client_secret`` identify the app whose webhooks are delivered, ``retry`` paces deliveries
    (``RetryPolicy(time_scale=...)`` compresses HubSpot's 24 h of retries) and ``world`` is the
    synthetic world behind ``/_sandbox/scenario/advance`` (default: the portal's own).
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
        custom_objects: bool | None = None,
        app_id: int = DEFAULT_APP_ID,
        developer_key: str = DEFAULT_DEVELOPER_KEY,
        client_secret: str | None = None,
        retry: RetryPolicy | None = None,
        world: Any = None,
    ):
        if custom_objects is not None:
            portal.custom_objects = custom_objects
        self.portal = portal
        self.token = token
        app = create_app(
            portal,
            token=token,
            limits=limits,
            clock=clock,
            app_id=app_id,
            developer_key=developer_key,
            client_secret=client_secret,
            retry=retry,
            world=world,
        )
        super().__init__(app, host, port, name="hubspot-sandbox")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and delivering webhooks."""
        self.state.webhooks.delivery.stop()
        super().stop(timeout)

    @property
    def state(self) -> SandboxState:
        """The app's shared state (stats, faults, limiter)."""
        state: SandboxState = self.app.state.sandbox
        return state


def serve_forever(
    portal: Portal,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str = DEFAULT_TOKEN,
    *,
    limits: RateLimits | None = None,
    app_id: int = DEFAULT_APP_ID,
    developer_key: str = DEFAULT_DEVELOPER_KEY,
    client_secret: str | None = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Serve ``portal`` in the foreground until interrupted (``crmpulse sandbox hubspot``)."""
    app = create_app(
        portal,
        token=token,
        limits=limits,
        app_id=app_id,
        developer_key=developer_key,
        client_secret=client_secret,
        retry=retry,
    )
    log.info("HubSpot sandbox on http://%s:%d (portal %d)", host, port, portal.portal_id)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="off")


def build_portal(
    seed: int,
    scale: str,
    as_of: datetime | None = None,
    *,
    portal_id: int = DEFAULT_PORTAL_ID,
    custom_objects: bool = True,
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
        return Portal.from_records(records, portal_id=portal_id, custom_objects=custom_objects)
    world = generate(seed=seed, scale=scale, as_of=as_of, source=source)
    records = itertools.chain(
        world.accounts(),
        world.contacts(),
        world.deals(),
        world.tickets(),
        world.activities(),
        world.surveys(),
    )
    portal = Portal.from_records(records, portal_id=portal_id, custom_objects=custom_objects)
    portal.world = world
    return portal


@contextmanager
def running(
    *,
    seed: int,
    scale: str,
    as_of: datetime | None,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 0,
    custom_objects: bool = True,
    app_id: int = DEFAULT_APP_ID,
    developer_key: str = DEFAULT_DEVELOPER_KEY,
    client_secret: str | None = None,
    retry: RetryPolicy | None = None,
) -> Iterator[str]:
    """Serve a synthetic world in-process; the context value is the base URL."""
    portal = build_portal(seed, scale, as_of, custom_objects=custom_objects)
    with SandboxServer(
        portal,
        host,
        port,
        token,
        app_id=app_id,
        developer_key=developer_key,
        client_secret=client_secret,
        retry=retry,
    ) as server:
        yield server.base_url


def serve(
    *,
    seed: int,
    scale: str,
    as_of: datetime | None,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 8765,
    custom_objects: bool = True,
    app_id: int = DEFAULT_APP_ID,
    developer_key: str = DEFAULT_DEVELOPER_KEY,
    client_secret: str | None = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Build a synthetic world and serve it in the foreground (the CLI's entry point)."""
    serve_forever(
        build_portal(seed, scale, as_of, custom_objects=custom_objects),
        host,
        port,
        token,
        app_id=app_id,
        developer_key=developer_key,
        client_secret=client_secret,
        retry=retry,
    )
