"""The emulator's scenario controls (not part of Salesforce's API; no session): a
:class:`crmpulse.synth.scenario.Scenario` moves the org's synthetic world forward in time and its
records reach the org through the seed conversion (:meth:`.seed.Loader.apply`), as the agent
user, so they fire outbound messages like any change made in the org.

- ``POST /_sandbox/scenario``: ``{"seed"?, "scale"?, "as_of"?, "scenario_seed"?, "start"?,
  "pace"?}`` starts a scenario over the world the org was built from (or over
  ``generate(seed, scale, as_of)`` when ``seed`` or ``scale`` is given); answers ``{"now"}``.
- ``POST /_sandbox/scenario/advance``: ``{"hours": h}`` moves it (starting one over the org's
  world first if needed) and answers ``{"now", "records", "created", "updated", "deleted"}``
  (Salesforce ids of the rows of world records; roles, messages and survey parts not listed).
- ``GET /_sandbox/scenario``: ``{"now"}`` (404 without a scenario).
- ``POST /_sandbox/scenario/records``: ``{"entity", "records": [...]}`` applies records of the
  normalized model (``crmpulse.model``, ids as in the org's world) through the same conversion,
  as the agent user: a survey answer becomes its invitation, response and question responses.
  Answers ``{"created", "updated", "deleted"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from crmpulse.synth import generate

from .errors import ApiError
from .org import ORG_ID
from .query import format_value
from .seed import Loader
from .state import SandboxState
from .web import json_body, json_response


def _datetime(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(400, "INVALID", f"{name} must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ApiError(400, "INVALID", f"{name} must carry a time zone")
    return parsed


def router(state: SandboxState) -> APIRouter:
    """The scenario control routes over ``state``."""
    api = APIRouter(prefix="/_sandbox/scenario")

    def start(spec: dict[str, Any]) -> Any:
        from crmpulse.synth.scenario import Scenario

        world = state.world
        if spec.get("seed") is not None or spec.get("scale") is not None:
            world = generate(
                seed=int(spec.get("seed") or 7),
                scale=str(spec.get("scale") or "small"),
                as_of=_datetime(spec.get("as_of"), "as_of"),
                source=f"salesforce:{ORG_ID}",
            )
        if world is None:
            raise ApiError(409, "NO_WORLD", "the org was not built from a world; give seed/scale")
        seed = spec.get("scenario_seed")
        scenario = Scenario(
            world,
            seed=None if seed is None else int(seed),
            start=_datetime(spec.get("start"), "start"),
            pace=float(spec.get("pace", 1.0)),
        )
        state.world, state.scenario = world, scenario
        if state.loader is None:
            state.loader = Loader(state.org)
        return scenario

    @api.post("")
    async def create(request: Request) -> Response:
        """Start a scenario."""
        try:
            spec = await json_body(request)
            scenario = start(spec if isinstance(spec, dict) else {})
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except (TypeError, ValueError) as exc:
            return json_response([{"message": str(exc), "errorCode": "INVALID"}], 400)
        return json_response({"now": format_value(scenario.now)}, 201)

    @api.get("")
    async def show() -> Response:
        """The scenario clock."""
        if state.scenario is None:
            return json_response([{"message": "no scenario", "errorCode": "NOT_FOUND"}], 404)
        return json_response({"now": format_value(state.scenario.now)})

    @api.post("/advance")
    async def advance(request: Request) -> Response:
        """Move the scenario and apply its records to the org."""
        try:
            spec = await json_body(request)
            if not isinstance(spec, dict) or spec.get("hours") is None:
                raise ApiError(400, "INVALID", 'expected {"hours": h}')
            hours = float(spec["hours"])
            scenario = state.scenario if state.scenario is not None else start({})
            records = scenario.advance(hours)
            assert state.loader is not None
            applied = state.loader.apply(records)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except (TypeError, ValueError) as exc:
            return json_response([{"message": str(exc), "errorCode": "INVALID"}], 400)
        return json_response(
            {
                "now": format_value(scenario.now),
                "records": len(records),
                "created": applied.created,
                "updated": applied.updated,
                "deleted": applied.deleted,
            }
        )

    @api.post("/records")
    async def put_records(request: Request) -> Response:
        """Apply model records to the org, as someone working in it would."""
        from pydantic import ValidationError

        from crmpulse.model import ENTITY_TYPES

        try:
            spec = await json_body(request)
            entity = spec.get("entity") if isinstance(spec, dict) else None
            model = ENTITY_TYPES.get(str(entity))
            if model is None or not isinstance(spec.get("records"), list):
                raise ApiError(400, "INVALID", 'expected {"entity": <entity>, "records": [...]}')
            records = [model.model_validate(r) for r in spec["records"]]
            if state.loader is None:
                state.loader = Loader(state.org)
            applied = state.loader.apply(records)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except ValidationError as exc:
            return json_response([{"message": str(exc), "errorCode": "INVALID"}], 400)
        return json_response(
            {"created": applied.created, "updated": applied.updated, "deleted": applied.deleted}
        )

    return api
