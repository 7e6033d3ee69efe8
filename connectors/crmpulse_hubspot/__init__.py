"""HubSpot connector for crmpulse: adapter, mappers and a local emulator of the HubSpot API."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmpulse.settings import Settings
    from crmpulse_hubspot.connector import HubSpotConnector


class HubSpotPlugin:
    """Entry point ``crmpulse.connectors:hubspot``."""

    name = "hubspot"

    def connect(self, settings: Settings) -> HubSpotConnector:
        """A connector for the configured portal."""
        from crmpulse_hubspot.connector import HubSpotConnector

        return HubSpotConnector(settings.hubspot, settings.sync)

    def sandbox(
        self,
        *,
        seed: int,
        scale: str,
        as_of: datetime | None,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> AbstractContextManager[str]:
        """Start the emulator in-process; the context value is its base URL."""
        from crmpulse_hubspot.sandbox import running

        return running(seed=seed, scale=scale, as_of=as_of, token=token, host=host, port=port)

    def serve_sandbox(
        self, *, seed: int, scale: str, as_of: datetime | None, token: str, host: str, port: int
    ) -> None:
        """Run the emulator in the foreground until interrupted."""
        from crmpulse_hubspot.sandbox import serve

        serve(seed=seed, scale=scale, as_of=as_of, token=token, host=host, port=port)
