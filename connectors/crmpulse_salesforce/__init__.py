"""Salesforce connector for crmpulse: adapter, mappers and a local Salesforce API emulator."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmpulse.events import WebhookReceiver
    from crmpulse.ports import Connector
    from crmpulse.settings import Settings
    from crmpulse_salesforce.client import SalesforceCallCosts
    from crmpulse_salesforce.connector import SalesforceConnector


class SalesforcePlugin:
    """Entry point ``crmpulse.connectors:salesforce``."""

    name = "salesforce"

    def connect(self, settings: Settings) -> SalesforceConnector:
        """A connector for the configured org, spending the org's API budget."""
        from crmpulse.budget import salesforce_budget
        from crmpulse_salesforce.connector import SalesforceConnector

        connector = SalesforceConnector(
            settings.salesforce,
            settings.sync,
            bulk_poll_seconds=settings.salesforce.bulk_poll_seconds,
        )
        connector.client.use_budget(
            salesforce_budget(
                connector.source,
                daily_allocation=settings.budget.salesforce_daily_allocation,
                reserve=settings.budget.salesforce_reserve,
            )
        )
        return connector

    def webhook_receiver(self, settings: Settings, connector: Connector) -> WebhookReceiver:
        """Outbound messages of the configured org. Unset, the allowed organization and the
        integration user are the ones the login belongs to (one ``userinfo`` call)."""
        from crmpulse_salesforce.connector import SalesforceConnector
        from crmpulse_salesforce.notifications import SalesforceReceiver

        assert isinstance(connector, SalesforceConnector)
        sf = settings.salesforce
        orgs, user = list(sf.organization_ids), sf.integration_user_id
        if not orgs or user is None:
            who = connector.client.userinfo()
            orgs = orgs or [str(who.get("organization_id") or "")]
            user = user or (str(who.get("user_id") or "") or None)
        custom = sf.survey_object if sf.survey_source == "custom_object" else None
        return SalesforceReceiver(
            source=connector.source,
            allowed_orgs=[o for o in orgs if o],
            integration_user_id=user,
            custom_survey_object=custom,
        )

    def call_costs(self, connector: Connector, settings: Settings) -> SalesforceCallCosts:
        """What the connector's work costs in calls, for ``crmpulse sync --estimate``."""
        from crmpulse_salesforce.client import SalesforceCallCosts
        from crmpulse_salesforce.connector import SalesforceConnector

        assert isinstance(connector, SalesforceConnector)
        return SalesforceCallCosts(connector.client)

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

    def sandbox_settings(self, settings: Settings, *, base_url: str, token: str) -> Settings:
        """``settings`` pointed at an emulator (an ``http://`` instance URL and a session id)."""
        from pydantic import SecretStr

        return settings.model_copy(
            update={
                "crm": "salesforce",
                "salesforce": settings.salesforce.model_copy(
                    update={
                        "instance_url": base_url,
                        "access_token": SecretStr(token),
                        "org_name": "sandbox",
                    }
                ),
                "sync": settings.sync.model_copy(update={"overlap_seconds": 1.0}),
            }
        )

    def read_back(
        self, connector: Connector, account_ids: list[str], field: str
    ) -> list[tuple[str | None, str | None]]:
        """Account names and one crmpulse field, through one SOQL query."""
        from crmpulse_salesforce import schema, soql
        from crmpulse_salesforce.connector import SalesforceConnector

        assert isinstance(connector, SalesforceConnector)
        api = schema.api_name(field)
        text = soql.select(["Name", api], "Account", f"Id IN {soql.id_list(account_ids)}")
        rows = [r for page in connector.client.query_pages(text) for r in page]
        return [(r.get("Name"), r.get(api)) for r in rows]
