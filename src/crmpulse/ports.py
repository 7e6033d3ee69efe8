"""The connector port: what the core asks of a CRM, and the values exchanged.

A connector is an adapter folder (``connectors/crmpulse_<crm>/``) that implements ``Connector``.
Streams are data (``StreamSpec``); one generic loop in ``crmpulse.service`` runs them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from crmpulse.errors import InvalidRecordError
from crmpulse.model import Record

TargetLevel = Literal["account", "contact", "snapshot"]
"""Where a write lands: a company/account, a contact, or a KPI snapshot record."""
FieldType = Literal["number", "string", "date", "datetime", "enumeration"]


@dataclass(frozen=True)
class StreamSpec:
    """One pullable object type of a CRM."""

    name: str
    """Stream name, also the key of its cursor (``contacts``, ``feedback_submissions``)."""
    entity: str
    """Store entity the records land in (a key of ``crmpulse.model.ENTITY_TYPES``)."""
    crm_object: str
    """The vendor's object name."""
    cursor_field: str
    """The vendor property that orders incremental pulls."""


@dataclass(frozen=True)
class Cursor:
    """Where an incremental pull resumes.

    ``updated_at``/``record_id`` is the last record seen (ties broken by id). ``visible_before`` is
    the instant before which every change was searchable when the pull ran (pull start minus the
    overlap window): changes between it and ``updated_at`` may still surface late and are re-read.
    """

    updated_at: datetime
    record_id: str
    visible_before: datetime

    @property
    def resume_from(self) -> datetime:
        """The lowest modification time the next pull must ask for."""
        return min(self.updated_at, self.visible_before)


@dataclass(frozen=True)
class Page:
    """A page of normalized records and the cursor after it.

    ``removed`` names records the CRM no longer has (deleted, archived, merged away) that the
    page's reads revealed; ``merged_into`` maps each merged-away id to the record that absorbed
    it, so what pointed at the loser can follow the survivor.
    """

    records: Sequence[Record]
    cursor: Cursor | None
    rejects: Sequence[InvalidRecordError] = ()
    removed: Sequence[str] = ()
    merged_into: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fetched:
    """Records read by id (``Connector.fetch``).

    ``records`` are normalized as a pull would (associations attached); ``missing`` are requested
    ids the CRM no longer has (deleted, archived, merged away, purged); ``merged_into`` maps a
    merged-away id to its survivor wherever the CRM says so (such ids are also in ``missing``).
    """

    records: list[Record]
    rejects: list[InvalidRecordError]
    missing: list[str]
    merged_into: dict[str, str]


@dataclass(frozen=True)
class Removed:
    """Records of one stream that left the CRM (``Connector.removed``)."""

    ids: dict[str, datetime]
    """Removed id -> when it was removed (archived / deleted)."""
    merged_into: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveRecord:
    """One live record in an id-set listing, with the association fields the store keeps.

    ``links`` holds record fields (``account_id``, ``contact_id``, ``contact_ids``,
    ``ticket_id``) as the full mapper would set them; only the fields present are compared.
    """

    id: str
    links: Mapping[str, str | tuple[str, ...] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSpec:
    """A property / custom field crmpulse writes."""

    name: str
    label: str
    type: FieldType
    description: str
    levels: tuple[TargetLevel, ...]


@dataclass(frozen=True)
class SnapshotSpec:
    """The custom object holding KPI snapshot records (one per period, level, segment and KPI).

    Names are vendor-neutral (``crmpulse_kpi_snapshot``, ``crmpulse_key``); a connector spells
    them the way its CRM wants (``CrmPulse_KPI_Snapshot__c``, ``Key__c``). ``key_field`` is the
    unique external id snapshots are upserted by.
    """

    name: str
    label: str
    plural_label: str
    key_field: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class TargetSpec:
    """Everything crmpulse needs to exist in the CRM before writing."""

    group: str
    group_label: str
    fields: tuple[FieldSpec, ...]
    snapshot: SnapshotSpec | None = None

    def fields_for(self, level: TargetLevel) -> tuple[FieldSpec, ...]:
        """The fields written at one level."""
        return tuple(f for f in self.fields if level in f.levels)


@dataclass(frozen=True)
class PropertyChange:
    """New values for one CRM record.

    For ``level == "snapshot"`` the ``object_id`` is the snapshot's key (its external id) and the
    record is upserted by it; ``values`` then use the snapshot spec's field names.
    """

    level: TargetLevel
    object_id: str
    values: dict[str, str | None]


@dataclass(frozen=True)
class RowFailure:
    """One row of a batch write that the CRM rejected."""

    change: PropertyChange
    message: str


@dataclass
class PushResult:
    """Per-row outcome of a push: what was written (and when the CRM stamped it), what failed."""

    written: list[tuple[PropertyChange, datetime | None]] = field(default_factory=list)
    failed: list[RowFailure] = field(default_factory=list)


@dataclass
class CallStats:
    """API calls a connector made, by kind (read / write) and by operation."""

    by_operation: Counter[str] = field(default_factory=Counter)
    reads: int = 0
    writes: int = 0

    def count(self, operation: str, kind: Literal["read", "write"]) -> None:
        """Record one call."""
        self.by_operation[operation] += 1
        if kind == "read":
            self.reads += 1
        else:
            self.writes += 1


class Connector(Protocol):
    """What the core needs from a CRM."""

    name: str
    """Connector name (``hubspot``)."""
    source: str
    """Which portal / org records come from (``hubspot:<portal>``)."""
    calls: CallStats

    def streams(self) -> Sequence[StreamSpec]:
        """The objects this connector can pull, in dependency order."""
        ...

    def pull(self, stream: StreamSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Records changed since ``cursor`` (all records when ``None``), page by page."""
        ...

    def count_changed_since(self, stream: StreamSpec, since: datetime) -> int:
        """How many records of ``stream`` were modified strictly after ``since``."""
        ...

    def fetch(self, entity: str, ids: Sequence[str]) -> Fetched:
        """Read records of a store entity by id, in as few calls as the CRM allows."""
        ...

    def ensure_targets(self, spec: TargetSpec) -> list[str]:
        """Create missing property groups, properties and the snapshot object (if the CRM
        allows one); return what was created."""
        ...

    def push(self, changes: Sequence[PropertyChange]) -> PushResult:
        """Write property values (and upsert snapshot records) in batches, per-row outcomes."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Reconciling(Protocol):
    """What a connector offers to find what incremental pulls cannot see: removals that leave
    modification dates alone, hard deletes, association changes."""

    def removed(self, stream: StreamSpec) -> Removed:
        """Records of ``stream`` the CRM keeps as removed (archived, recycle bin)."""
        ...

    def live_records(self, stream: StreamSpec) -> Iterator[list[LiveRecord]]:
        """Every live record of ``stream`` (id and association fields), in pages, cheaply."""
        ...

    def refetches_missing(self, stream: StreamSpec) -> bool:
        """Whether every id ``live_records`` lists is a record the store should hold."""
        ...
