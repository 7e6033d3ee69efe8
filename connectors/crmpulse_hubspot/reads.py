"""Reads the reconciliation needs beyond ``HubSpotClient``'s: the archived listing.

The call goes through the client's own plumbing (budget, counting, retries, error translation),
so it costs and fails exactly like every other read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmpulse_hubspot.client import HubSpotClient, RawObject, _http, _raw


def archived_page(
    client: HubSpotClient,
    object_type: str,
    *,
    after: str | None,
    limit: int,
    properties: Sequence[str],
) -> tuple[list[RawObject], str | None]:
    """One page of ``GET /crm/v3/objects/{type}?archived=true`` (id order, ``archivedAt`` set)."""
    kwargs: dict[str, Any] = {
        "limit": limit,
        "properties": list(properties),
        "archived": True,
        "_request_timeout": client._timeout,
    }
    if after:
        kwargs["after"] = after
    basic = client._basic
    page = client._call(
        f"list archived {object_type}",
        "read",
        lambda: _http(basic.get_page_with_http_info(object_type, **kwargs)),
    )
    nxt = page.paging.next.after if page.paging and page.paging.next else None
    return [_raw(o) for o in page.results], nxt
