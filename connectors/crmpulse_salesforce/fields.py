"""Which of a stream's fields the org has, learned from the org itself and re-learned every sync.

crmpulse selects a few fields standard objects do not have: the org's own custom fields for
segment, customer-since, churn and lifecycle dates, first response (named in the settings), and
``CurrencyIsoCode``, which exists only where multiple currencies are enabled. SOQL refuses a
whole query that names a field the object lacks (``INVALID_FIELD``). So a query is sent with
every field first; if the org refuses it, one describe tells which optional fields are missing,
a warning names them, and the query is sent again without them. Every pull starts over with the
full list, so a field created in the org is read from the next sync on, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import structlog

from crmpulse.errors import ConfigError, CrmPulseError

if TYPE_CHECKING:
    from crmpulse_salesforce.client import Row, SalesforceClient
    from crmpulse_salesforce.schema import SalesforceStream

log = structlog.get_logger("crmpulse.salesforce")

OPTIONAL_STANDARD = frozenset({"currencyisocode"})
"""Standard fields that only some orgs have."""

Query = Callable[[tuple[str, ...]], Iterator[list["Row"]]]


def optional(sobject: str, field: str) -> bool:
    """Whether an org may lack ``field`` and crmpulse still work: custom fields on standard
    objects, and the standard fields in :data:`OPTIONAL_STANDARD`. A custom object's own
    fields (the survey object) are required."""
    name = field.lower()
    return name in OPTIONAL_STANDARD or (name.endswith("__c") and not sobject.endswith("__c"))


class SelectableFields:
    """Per stream, the fields to select: all of them until the org says otherwise."""

    def __init__(
        self, client: SalesforceClient, fields_of: Callable[[SalesforceStream], tuple[str, ...]]
    ) -> None:
        self._client = client
        self._fields_of = fields_of
        self._now: dict[str, tuple[str, ...]] = {}

    def reset(self, stream: SalesforceStream) -> None:
        """Forget what was learned (a pull starts here, so new fields are noticed)."""
        self._now.pop(stream.name, None)

    def of(self, stream: SalesforceStream) -> tuple[str, ...]:
        """The fields to select now."""
        return self._now.get(stream.name) or self._fields_of(stream)

    def query(self, stream: SalesforceStream, run: Query) -> Iterator[list[Row]]:
        """Pages of ``run(fields)``, sent again without the missing optional fields if the org
        refuses the first try with ``INVALID_FIELD``."""
        try:
            pages = run(self.of(stream))
            first = next(pages, None)
        except CrmPulseError as exc:
            if "INVALID_FIELD" not in str(exc):
                raise
            pages = run(self._learn(stream, str(exc)))
            first = next(pages, None)
        if first is not None:
            yield first
            yield from pages

    def _learn(self, stream: SalesforceStream, error: str) -> tuple[str, ...]:
        sobject = stream.crm_object
        described: dict[str, Any] | None = self._client.describe(sobject)
        have = {str(f.get("name", "")).lower() for f in (described or {}).get("fields", [])}
        fields = self.of(stream)
        missing = [f for f in fields if "." not in f and f.lower() not in have]
        required = [f for f in missing if not optional(sobject, f)]
        if required or not missing:
            raise ConfigError(
                f"Salesforce {sobject} has no field {', '.join(required or missing) or '?'} "
                f"({error})",
                hint="create the field, or grant the integration user read access to it",
            )
        log.warning(
            "salesforce.fields_missing",
            sobject=sobject,
            fields=missing,
            hint="read without them; create them (or name the org's own in the "
            "salesforce.*_field settings) and the next sync reads them",
        )
        kept = tuple(f for f in fields if f not in missing)
        self._now[stream.name] = kept
        return kept
