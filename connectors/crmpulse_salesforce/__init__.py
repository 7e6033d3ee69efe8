"""Salesforce connector for crmpulse: adapter, mappers and a local Salesforce API emulator."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmpulse.settings import Settings
    from crmpulse_salesforce.connector import SalesforceConnector


class SalesforcePlugin:
    """Entry point ``crmpulse.connectors:salesforce``."""

    name = "salesforce"

    def connect(self, settings: Settings) -> SalesforceConnector:
        """A connector for the configured org."""
        from crmpulse_salesforce.connector import SalesforceConnector

        return SalesforceConnector(settings.salesforce, settings.sync)

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
        """Start the emulator in-process; the context value is its instance URL."""
        from crmpulse_salesforce.sandbox.launch import running

        return running(seed=seed, scale=scale, as_of=as_of, token=token, host=host, port=port)

    def serve_sandbox(
        self, *, seed: int, scale: str, as_of: datetime | None, token: str, host: str, port: int
    ) -> None:
        """Run the emulator in the foreground until interrupted."""
        from crmpulse_salesforce.sandbox.launch import serve

        serve(seed=seed, scale=scale, as_of=as_of, token=token, host=host, port=port)
