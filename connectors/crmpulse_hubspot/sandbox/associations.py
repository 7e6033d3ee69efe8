"""Associations between objects, stored in both directions as HubSpot does."""

from __future__ import annotations

from .catalog import inverse

Key = tuple[str, int]


class AssociationStore:
    """``(type, id) -> to_type -> to_id -> [typeId, ...]``, kept symmetric.

    Changing associations does not touch the objects' modification dates (as in HubSpot), but
    ``version`` moves so that cached searches on ``associations.*`` are recomputed.
    """

    def __init__(self) -> None:
        self._links: dict[Key, dict[str, dict[int, list[int]]]] = {}
        self.version = 0

    def _add_one(self, frm: Key, to_type: str, to_id: int, type_id: int) -> None:
        by_type = self._links.setdefault(frm, {})
        types = by_type.setdefault(to_type, {}).setdefault(to_id, [])
        if type_id not in types:
            types.append(type_id)

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        """Associate two objects with one type id (the reverse direction is added too)."""
        self._add_one((from_type, from_id), to_type, to_id, type_id)
        back = inverse(from_type, to_type, type_id)
        if back is not None:
            self._add_one((to_type, to_id), from_type, from_id, back)
        self.version += 1

    def remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Remove every association between two objects, in both directions."""
        for (a, a_id), (b, b_id) in (
            ((from_type, from_id), (to_type, to_id)),
            ((to_type, to_id), (from_type, from_id)),
        ):
            targets = self._links.get((a, a_id), {}).get(b)
            if targets is not None:
                targets.pop(b_id, None)
        self.version += 1

    def targets(self, from_type: str, from_id: int, to_type: str) -> dict[int, list[int]]:
        """``to_id -> type ids`` of one object toward one object type (live; do not mutate)."""
        return self._links.get((from_type, from_id), {}).get(to_type, {})

    def has(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        """Whether two objects are associated."""
        return to_id in self.targets(from_type, from_id, to_type)
