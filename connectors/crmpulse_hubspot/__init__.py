"""HubSpot connector for crmpulse: adapter, mappers and a local emulator of the HubSpot API."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmpulse.events import WebhookReceiver
    from crmpulse.ports import Connector
    from crmpulse.settings import Settings
    from crmpulse_hubspot.client import HubSpotCallCosts
    from crmpulse_hubspot.connector import HubSpotConnector


class HubSpotPlugin:
    """Entry point ``crmpulse.connectors:hubspot``."""

    name = "hubspot"

    def connect(self, settings: Settings) -> HubSpotConnector:
        """A connector for the configured portal, spending the portal's API budget."""
        from crmpulse.budget import hubspot_budget
        from crmpulse_hubspot.connector import HubSpotConnector

        connector = HubSpotConnector(settings.hubspot, settings.sync)
        connector.client.use_budget(
            hubspot_budget(
                connector.source,
                tier=settings.budget.hubspot_tier,
                burst_limit=settings.hubspot.burst_limit,
                daily_allocation=settings.budget.hubspot_daily_allocation,
                reserve=settings.budget.hubspot_reserve,
            )
        )
        return connector

    def webhook_receiver(self, settings: Settings, connector: Connector) -> WebhookReceiver:
        """Signed deliveries of the configured app (needs its client secret)."""
        from crmpulse.errors import ConfigError
        from crmpulse_hubspot.webhooks import HubSpotReceiver

        secret = settings.hubspot.client_secret
        if secret is None or not secret.get_secret_value():
            raise ConfigError(
                "HubSpot webhooks cannot be verified without the app's client secret",
                hint="set CRMPULSE_HUBSPOT__CLIENT_SECRET (the app's Auth page shows it)",
            )
        return HubSpotReceiver(
            source=connector.source,
            client_secret=secret.get_secret_value(),
            app_id=settings.hubspot.app_id,
            window_seconds=settings.server.signature_window_seconds,
        )

    def call_costs(self, connector: Connector, settings: Settings) -> HubSpotCallCosts:
        """What the connector's work costs in calls, for ``crmpulse sync --estimate``."""
        from crmpulse_hubspot.client import HubSpotCallCosts
        from crmpulse_hubspot.connector import HubSpotConnector

        assert isinstance(connector, HubSpotConnector)
        return HubSpotCallCosts(connector.client, settings.sync)

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

    def sandbox_settings(self, settings: Settings, *, base_url: str, token: str) -> Settings:
        """``settings`` pointed at an emulator; the emulator's search index has no lag, so a
        short overlap keeps runs brisk."""
        from pydantic import SecretStr

        return settings.model_copy(
            update={
                "crm": "hubspot",
                "hubspot": settings.hubspot.model_copy(
                    update={
                        "base_url": base_url,
                        "access_token": SecretStr(token),
                        "portal_id": "sandbox",
                    }
                ),
                "sync": settings.sync.model_copy(update={"overlap_seconds": 1.0}),
            }
        )

    def read_back(
        self, connector: Connector, account_ids: list[str], field: str
    ) -> list[tuple[str | None, str | None]]:
        """Company names and one crmpulse property, through a batch read."""
        from crmpulse_hubspot.connector import HubSpotConnector

        assert isinstance(connector, HubSpotConnector)
        objects = connector.client.batch_read("companies", account_ids, ["name", field])
        return [(o.properties.get("name"), o.properties.get(field)) for o in objects]
