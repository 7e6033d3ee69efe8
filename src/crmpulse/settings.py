"""Typed settings: environment (``CRMPULSE_`` prefix, ``__`` for nesting), a TOML file, defaults.

Precedence, highest first: explicit keyword arguments, environment variables, the TOML file
(``./crmpulse.toml`` or the path in ``--config`` / ``CRMPULSE_CONFIG``), defaults. Secrets are
``SecretStr`` and never printed. Settings are loaded once by an entrypoint and passed in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from crmpulse.errors import ConfigError
from crmpulse.kpis.calendar import CalendarConfig
from crmpulse.kpis.periods import Grain

DEFAULT_CONFIG_FILE = Path("crmpulse.toml")


class _Section(BaseModel):
    """A settings section; unknown keys are typos, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    """Where records, cursors, KPI history and the write-back ledger live."""

    url: str = Field(
        default="sqlite:///./crmpulse.db",
        description="any SQLAlchemy URL; sqlite:///path or postgresql+psycopg://user@host/db",
    )


class HubSpotSettings(_Section):
    """How to reach a HubSpot portal."""

    base_url: str = Field(default="https://api.hubapi.com", description="API root")
    access_token: SecretStr | None = Field(default=None, description="private-app or OAuth token")
    client_secret: SecretStr | None = Field(default=None, description="app secret for webhooks")
    app_id: str | None = Field(
        default=None,
        description="our app's id: webhook events it caused (our write-back) are not recomputed",
    )
    portal_id: str = Field(default="default", description="names the source in the store")
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, description="retries on 429 / 5xx per call")
    burst_limit: int = Field(
        default=190, ge=10, description="calls per 10 s the app may make (100 on Free/Starter)"
    )


class SalesforceSettings(_Section):
    """How to reach a Salesforce org, and where it keeps what crmpulse reads.

    Authentication takes the first complete variant: a session ``access_token``; a JWT bearer
    (``username`` + ``consumer_key`` + ``private_key_file``); OAuth username-password
    (``username`` + ``password`` + ``consumer_key`` + ``consumer_secret``); SOAP
    username-password (``username`` + ``password`` [+ ``security_token``]); client credentials
    (``consumer_key`` + ``consumer_secret``, with a My Domain ``domain``).
    """

    instance_url: str | None = Field(
        default=None,
        description="org URL, e.g. https://acme.my.salesforce.com (http:// for local servers)",
    )
    access_token: SecretStr | None = Field(default=None, description="a session id / token")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = Field(default=None, description="connected app consumer key")
    consumer_secret: SecretStr | None = None
    private_key_file: Path | None = Field(default=None, description="PEM key for JWT bearer")
    domain: str = Field(
        default="login", description="login, test, or the My Domain (acme.my) for logins"
    )
    api_version: str = Field(default="59.0", pattern=r"^\d+\.\d$")
    org_name: str = Field(default="default", description="names the source in the store")
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, description="retries on 5xx / row locks per call")
    bulk_threshold: int = Field(
        default=20_000,
        ge=0,
        description="a full load of a stream with more rows than this uses Bulk API 2.0",
    )
    bulk_write_threshold: int = Field(
        default=2_000,
        ge=0,
        description="more changed rows than this are written with Bulk API 2.0 ingest",
    )
    bulk_poll_seconds: int = Field(
        default=2,
        ge=0,
        description="seconds to wait before polling a Bulk API 2.0 job (and between polls)",
    )
    first_response_field: str = Field(
        default="First_Response__c", description="Case field holding the first response time"
    )
    segment_field: str = Field(default="Customer_Segment__c", description="Account segment")
    customer_since_field: str = Field(default="Customer_Since__c", description="on Account")
    churn_date_field: str = Field(default="Churn_Date__c", description="on Account and Contact")
    lifecycle_field: str = Field(default="Lifecycle_Stage__c", description="on Contact")
    survey_source: Literal["feedback_management", "custom_object"] = Field(
        default="feedback_management",
        description="Feedback Management's Survey objects, or one custom object per answer",
    )
    survey_object: str = Field(
        default="NPS_Response__c", description="the custom object (survey_source=custom_object)"
    )
    ces_question: str = Field(
        default="ces", description="Rating questions whose DeveloperName contains this are CES"
    )
    permission_set: str = Field(
        default="CrmPulse_Integration",
        description="permission set granted read/edit on the fields crmpulse creates",
    )
    organization_ids: list[str] = Field(
        default_factory=list,
        description="orgs whose outbound messages are accepted (15- or 18-character ids)",
    )
    integration_user_id: str | None = Field(
        default=None,
        description="the API user's id: changes it made (our write-back) are not recomputed; "
        "looked up from the login when unset",
    )


class SyncSettings(_Section):
    """Incremental-sync behaviour."""

    overlap_seconds: float = Field(
        default=5.0,
        ge=0,
        description="records modified this close to a pull may not be searchable yet; re-read them",
    )
    page_size: int = Field(default=100, ge=1, le=100, description="list page size (API max 100)")
    search_page_size: int = Field(default=200, ge=1, le=200, description="search page (max 200)")


class KpiSettings(_Section):
    """What the KPI engine computes and how."""

    period: str | None = Field(
        default=None,
        description="period to compute and write back (YYYY-MM, YYYY-Qn, YYYY-Www, YYYY-MM-DD or "
        "YYYY), `current` (the running period of `grain`, partial) or `last` (the last complete "
        "one, the default)",
    )
    grain: Grain = Field(default="month", description="default period length")
    csat_satisfied_min: float = Field(
        default=4, ge=1, le=5, description="lowest CSAT score counted as satisfied on a 1-5 scale"
    )
    timezone: str = Field(default="UTC", description="IANA zone the periods are cut in")
    calendar: CalendarConfig = Field(
        default_factory=CalendarConfig,
        description="business hours for the business-hours service KPIs (zone, weekly hours, "
        "holidays)",
    )
    recontact_days: float = Field(
        default=7, gt=0, description="window for recontact and first-contact resolution"
    )
    conversion_days: float = Field(
        default=90, gt=0, description="days a lead has to become a customer (conversion cohort)"
    )
    revenue_window_days: float = Field(
        default=365, gt=0, description="trailing revenue window for GRR, NRR and LTV"
    )
    gross_margin: float = Field(default=1.0, gt=0, le=1, description="gross margin for LTV")
    engagement_target: float = Field(
        default=20, gt=0, description="activity points per 30 days that make engagement 100"
    )
    health_file: Path | None = Field(
        default=None, description="health model TOML (default: the shipped model)"
    )
    health_window_days: int = Field(
        default=90, ge=1, description="trailing days the health score's measures are read over"
    )
    targets_file: Path | None = Field(default=None, description="KPI targets TOML")
    feedback: bool = Field(
        default=True,
        description="analyse survey comments (sentiment, themes) when the text extra is installed",
    )


class WriteBackSettings(_Section):
    """Writing KPI values back into the CRM."""

    enabled: bool = True
    property_group: str = "crmpulse"
    snapshots: bool = Field(
        default=True,
        description="also upsert portfolio and segment KPI snapshot records (a custom object)",
    )
    alerts: bool = Field(
        default=False,
        description="write each company's latest KPI alert (target crossed, band changed) "
        "to the crmpulse_alert property",
    )


class BudgetSettings(_Section):
    """The API budget per source: the CRM's limits, and a reserve left for other integrations.

    A reserve below 1 is a fraction of the daily allocation; from 1 up, a number of calls.
    """

    hubspot_tier: Literal["free", "starter", "professional", "enterprise", "api_add_on"] = Field(
        default="professional",
        description="HubSpot tier: its 10-second and daily limits (api_add_on: one limit increase)",
    )
    hubspot_daily_allocation: int | None = Field(
        default=None, ge=1, description="calls per day crmpulse may count on (default: the tier's)"
    )
    hubspot_reserve: float = Field(
        default=0.1, ge=0, description="daily HubSpot calls left to other integrations"
    )
    salesforce_daily_allocation: int | None = Field(
        default=None,
        ge=1,
        description="the org's 24-hour API allocation (default: what Sforce-Limit-Info reports)",
    )
    salesforce_reserve: float = Field(
        default=0.1, ge=0, description="daily Salesforce calls left to other integrations"
    )


class ServerSettings(_Section):
    """``crmpulse serve``: the webhook receiver, its worker and the scheduler."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(
        default=None,
        description="the URL the CRM calls (scheme and host as the CRM sees them, behind a "
        "proxy); HubSpot signs it. Default: http://host:port",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger bodies get 413")
    signature_window_seconds: float = Field(
        default=300.0, gt=0, description="HubSpot timestamps older or newer than this get 401"
    )
    sync_interval_seconds: float = Field(
        default=3600.0, ge=0, description="periodic full sync; 0 turns the scheduler off"
    )
    worker: Literal["process", "thread"] = Field(
        default="process",
        description="where the worker applies events: a process of its own, started and "
        "restarted by the server (webhooks stay fast while it works), or a thread of the "
        "server's process",
    )
    batch_size: int = Field(default=2000, ge=1, description="events the worker takes at once")
    worker_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="largest share of the time the worker may spend applying events; it rests "
        "in between, so webhooks are answered fast under a flood (and batches grow instead)",
    )
    max_attempts: int = Field(
        default=5, ge=1, description="tries per event before it is marked failed"
    )
    poll_seconds: float = Field(default=0.2, gt=0, description="worker idle poll interval")
    coalesce_seconds: float = Field(
        default=0.3, ge=0, description="wait this long after an event for more of the same burst"
    )


class LogSettings(_Section):
    """Structured logging."""

    format: Literal["console", "json"] = "console"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


class Settings(BaseSettings):
    """All crmpulse settings."""

    model_config = SettingsConfigDict(
        env_prefix="CRMPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    crm: Literal["hubspot", "salesforce"] = "hubspot"
    store: StoreSettings = StoreSettings()
    hubspot: HubSpotSettings = HubSpotSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    sync: SyncSettings = SyncSettings()
    kpi: KpiSettings = KpiSettings()
    writeback: WriteBackSettings = WriteBackSettings()
    budget: BudgetSettings = BudgetSettings()
    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file (if any) is named in model_config by load_settings.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the environment and a TOML file, raising ``ConfigError`` on bad input.

    ``config_file`` defaults to ``$CRMPULSE_CONFIG`` or ``./crmpulse.toml`` when it exists.
    """
    env = os.environ
    path = config_file or (Path(env["CRMPULSE_CONFIG"]) if env.get("CRMPULSE_CONFIG") else None)
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    if path is not None and not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist", hint="check --config / CRMPULSE_CONFIG"
        )
    settings_cls = Settings
    if path is not None:

        class FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=path)

        settings_cls = FileSettings
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings{where}: {problems}",
            hint="environment variables use CRMPULSE_<SECTION>__<KEY>, e.g. CRMPULSE_STORE__URL",
        ) from None
    except ValueError as exc:  # malformed TOML
        raise ConfigError(f"cannot read settings from {path}: {exc}") from None
