"""The emulator's record lifecycle controls (not part of Salesforce's API; no session). Every
change is made as the org's agent user, as if by someone working in the org.

- ``DELETE /_sandbox/records/{T}/{id}``: move a row to the recycle bin.
- ``POST /_sandbox/undelete``: ``{"ids": [...]}`` restores rows from the recycle bin.
- ``POST /_sandbox/purge``: ``{"ids": [...]}`` removes rows for good (hard delete, or emptying
  the recycle bin): gone from ``queryAll`` and ``sobjects/{T}/deleted``.
- ``POST /_sandbox/merge``: ``{"sobject", "masterId", "mergedIds"}`` merges one or two Accounts,
  Contacts or Leads into the master (see :mod:`.merge`); answers ``{"id", "mergedRecordIds",
  "updatedRelatedIds"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError
from .merge import MergeError, merge
from .org import AGENT_USER_ID
from .state import SandboxState
from .web import json_body, json_response


def _error(status: int, code: str, message: str) -> Response:
    return json_response([{"message": message, "errorCode": code}], status)


async def _ids(request: Request) -> list[str]:
    body = await json_body(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "INVALID", 'expected {"ids": [record ids]}')
    return list(dict.fromkeys(ids))


def router(state: SandboxState) -> APIRouter:
    """The lifecycle control routes over ``state``."""
    api = APIRouter(prefix="/_sandbox")
    org = state.org

    @api.delete("/records/{sobject}/{record_id}")
    async def delete(sobject: str, record_id: str) -> Response:
        """Recycle-bin a live row."""
        row = org.get(record_id)
        if row is None or org.sobject_for_id(record_id) != org.sobject_name(sobject):
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if row["IsDeleted"]:
            return _error(404, "ENTITY_IS_DELETED", "entity is deleted")
        org.delete(record_id, by=AGENT_USER_ID)
        return Response(status_code=204)

    @api.post("/undelete")
    async def undelete(request: Request) -> Response:
        """Restore rows from the recycle bin."""
        try:
            ids = await _ids(request)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        results: list[dict[str, Any]] = []
        for record_id in ids:
            row = org.get(record_id)
            if row is None or not row["IsDeleted"]:
                results.append({"id": record_id, "success": False, "errors": ["UNDELETE_FAILED"]})
                continue
            org.undelete(record_id, by=AGENT_USER_ID)
            results.append({"id": record_id, "success": True, "errors": []})
        return json_response(results)

    @api.post("/purge")
    async def purge(request: Request) -> Response:
        """Remove rows for good."""
        try:
            ids = await _ids(request)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        results: list[dict[str, Any]] = []
        for record_id in ids:
            try:
                org.purge(record_id, by=AGENT_USER_ID)
            except KeyError:
                results.append({"id": record_id, "success": False, "errors": ["NOT_FOUND"]})
                continue
            results.append({"id": record_id, "success": True, "errors": []})
        return json_response(results)

    @api.post("/merge")
    async def merge_records(request: Request) -> Response:
        """Merge duplicates into a master record."""
        try:
            body = await json_body(request)
            if not isinstance(body, dict):
                raise ApiError(400, "INVALID", "expected a JSON object")
            master = body.get("masterId")
            merged = body.get("mergedIds")
            if not isinstance(master, str) or not isinstance(merged, list):
                raise ApiError(400, "INVALID", "masterId and mergedIds are required")
            sobject = str(body.get("sobject") or org.sobject_for_id(master) or "")
            moved = merge(org, sobject, master, [str(m) for m in merged], by=AGENT_USER_ID)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except MergeError as exc:
            return _error(400, exc.code, exc.message)
        return json_response(
            {
                "id": master,
                "mergedRecordIds": list(dict.fromkeys(merged)),
                "updatedRelatedIds": moved,
            }
        )

    return api
