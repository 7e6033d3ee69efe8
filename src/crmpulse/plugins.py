"""Connector discovery through the ``crmpulse.connectors`` entry-point group."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from crmpulse.errors import ConfigError

if TYPE_CHECKING:
    from crmpulse.events import WebhookReceiver
    from crmpulse.ports import Connector
    from crmpulse.settings import Settings

GROUP = "crmpulse.connectors"


class ConnectorPlugin(Protocol):
    """What a connector distribution registers under ``crmpulse.connectors``."""

    name: str

    def connect(self, settings: Settings) -> Connector:
        """Build a connector from settings."""
        ...

    def webhook_receiver(self, settings: Settings, connector: Connector) -> WebhookReceiver:
        """The CRM's webhook dialect for this portal / org (may ask the CRM who we are)."""
        ...

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
        """Run the CRM's emulator in-process; the context value is its base URL."""
        ...

    def serve_sandbox(
        self, *, seed: int, scale: str, as_of: datetime | None, token: str, host: str, port: int
    ) -> None:
        """Run the CRM's emulator in the foreground."""
        ...

    def sandbox_settings(self, settings: Settings, *, base_url: str, token: str) -> Settings:
        """``settings`` pointed at an emulator serving ``base_url`` with ``token``."""
        ...

    def read_back(
        self, connector: Connector, account_ids: list[str], field: str
    ) -> list[tuple[str | None, str | None]]:
        """(name, value of crmpulse ``field``) of accounts, read back from the CRM."""
        ...


def available() -> list[str]:
    """Names of the installed connectors."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load(name: str) -> ConnectorPlugin:
    """The plugin registered under ``name``."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            plugin: ConnectorPlugin = ep.load()()
            return plugin
    raise ConfigError(
        f"no connector named {name!r}",
        hint=f"installed connectors: {', '.join(available()) or 'none'}; "
        "reinstall crmpulse if this list is empty",
    )
