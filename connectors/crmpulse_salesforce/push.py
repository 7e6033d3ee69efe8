"""Writing KPI values to Salesforce: sObject Collections, or Bulk API 2.0 for large change sets.

Account and Contact rows are updated by id, 200 per Collections call (one Bulk 2.0 ingest job past
``bulk_write_threshold``); KPI snapshots are upserted by their external id. Rows Salesforce could
not lock (``UNABLE_TO_LOCK_ROW``) are sent again, alone, after a short pause; any other per-row
error is reported with Salesforce's code and message, and the row is planned again next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from crmpulse import writeback
from crmpulse.errors import CrmPulseError, FatalError, RetriableError
from crmpulse.ports import PropertyChange, PushResult, RowFailure
from crmpulse.settings import SalesforceSettings
from crmpulse_salesforce import schema
from crmpulse_salesforce.client import COLLECTION_SIZE, SalesforceClient

LOCKED = "UNABLE_TO_LOCK_ROW"
Outcome = dict[str, Any]


def title(key: str) -> str:
    """A snapshot's record name (the object's required Name field), from its key."""
    period, level, segment, kpi = [*key.split("|"), "", "", ""][:4]
    return f"{period} {kpi} {level if segment in ('', '*') else segment}"[:80]


def _chunks(values: Sequence[PropertyChange], size: int) -> Iterator[Sequence[PropertyChange]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _error_text(outcome: Outcome) -> str:
    errors = outcome.get("errors") or [{}]
    return "; ".join(f"{e.get('statusCode', '')}: {e.get('message', '')}" for e in errors)


def _locked(outcome: Outcome) -> bool:
    return any(e.get("statusCode") == LOCKED for e in outcome.get("errors") or [])


class Pusher:
    """One push: builds the request bodies, sends them, sorts the per-row outcomes."""

    def __init__(
        self,
        client: SalesforceClient,
        settings: SalesforceSettings,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.settings = settings
        self.sleep = sleep
        self.result = PushResult()
        self.types = {
            f.name: f.type
            for f in (*writeback.target_spec("").fields, *writeback.snapshot_spec().fields)
        }

    def push(self, changes: Sequence[PropertyChange]) -> PushResult:
        """Write every change; the outcome of each row is in the returned result."""
        for level, sobject in schema.WRITE_OBJECT.items():
            rows = [c for c in changes if c.level == level]
            if len(rows) > self.settings.bulk_write_threshold:
                self._bulk(sobject, rows)
                continue
            for batch in _chunks(rows, COLLECTION_SIZE):
                self._collection(batch, self._updater(sobject))
        snapshots = [c for c in changes if c.level == writeback.SNAPSHOT]
        if snapshots:
            spec = writeback.snapshot_spec()
            sobject = schema.api_name(spec.name)
            key = schema.api_name(spec.key_field)
            for batch in _chunks(snapshots, COLLECTION_SIZE):
                self._collection(batch, self._upserter(sobject, key))
        return self.result

    def _value(self, name: str, value: str | None) -> Any:
        if value is None:
            return None
        return float(value) if self.types.get(name) == "number" else value

    def _record(self, sobject: str, values: dict[str, str | None]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": sobject}}
        record.update({schema.api_name(k): self._value(k, v) for k, v in values.items()})
        return record

    def _updater(self, sobject: str) -> Callable[[Sequence[PropertyChange]], list[Outcome]]:
        def send(batch: Sequence[PropertyChange]) -> list[Outcome]:
            records = [{**self._record(sobject, c.values), "Id": c.object_id} for c in batch]
            return self.client.collection_update(records)

        return send

    def _upserter(
        self, sobject: str, key: str
    ) -> Callable[[Sequence[PropertyChange]], list[Outcome]]:
        def send(batch: Sequence[PropertyChange]) -> list[Outcome]:
            records = [
                {**self._record(sobject, c.values), key: c.object_id, "Name": title(c.object_id)}
                for c in batch
            ]
            return self.client.collection_upsert(sobject, key, records)

        return send

    def _collection(
        self,
        batch: Sequence[PropertyChange],
        send: Callable[[Sequence[PropertyChange]], list[Outcome]],
    ) -> None:
        pending = list(batch)
        for attempt in range(self.settings.max_retries + 1):
            try:
                outcomes = send(pending)
            except (FatalError, RetriableError):
                raise
            except CrmPulseError as exc:  # the whole request was refused (400)
                self.result.failed.extend(RowFailure(c, str(exc)) for c in pending)
                return
            retry: list[PropertyChange] = []
            last = attempt == self.settings.max_retries
            for change, outcome in zip(pending, outcomes, strict=False):
                if outcome.get("success"):
                    self.result.written.append((change, None))
                elif _locked(outcome) and not last:
                    retry.append(change)
                else:
                    self.result.failed.append(RowFailure(change, _error_text(outcome)))
            for change in pending[len(outcomes) :]:
                self.result.failed.append(RowFailure(change, "not in the response"))
            if not retry:
                return
            self.sleep(min(0.2 * 2**attempt, 5.0))
            pending = retry

    def _bulk(self, sobject: str, rows: Sequence[PropertyChange]) -> None:
        names = sorted({k for c in rows for k in c.values})
        # Every row carries every column: an empty cell leaves a field as it is, #N/A clears it.
        records = [
            {"Id": c.object_id}
            | {
                schema.api_name(k): (
                    "" if k not in c.values else "#N/A" if c.values[k] is None else str(c.values[k])
                )
                for k in names
            }
            for c in rows
        ]
        by_id = {c.object_id: c for c in rows}
        try:
            ok, failed = self.client.bulk_upsert(sobject, "Id", records)
        except (FatalError, RetriableError):
            raise
        except CrmPulseError as exc:
            self.result.failed.extend(RowFailure(c, str(exc)) for c in rows)
            return
        done: set[str] = set()
        for row in ok:
            change = by_id.get(row.get("sf__Id") or row.get("Id") or "")
            if change is not None:
                self.result.written.append((change, None))
                done.add(change.object_id)
        for row in failed:
            change = by_id.get(row.get("Id") or "")
            if change is not None:
                self.result.failed.append(RowFailure(change, row.get("sf__Error") or "failed"))
                done.add(change.object_id)
        self.result.failed.extend(
            RowFailure(c, "not in the job's results") for c in rows if c.object_id not in done
        )
