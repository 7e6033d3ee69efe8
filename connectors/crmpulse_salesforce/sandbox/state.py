"""What the emulator's routes share: the org, credentials and sessions, open query cursors, the
API call count and daily allocation, call statistics and armed faults."""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import secrets
import threading
from typing import TYPE_CHECKING, Any

from crmpulse.httpserver import RouteStats as CallStats

from .errors import ApiError
from .org import API_USER_ID, Org
from .outbound import OutboundHub

if TYPE_CHECKING:
    from crmpulse.synth import World
    from crmpulse.synth.scenario import Scenario

    from .seed import Loader

DEFAULT_TOKEN = "00D000000000001!sandbox-session"
"""The session token the sandbox accepts unless told otherwise."""
DEFAULT_USERNAME = "admin@crmpulse.sandbox"
"""The login username the sandbox accepts unless told otherwise."""
DEFAULT_PASSWORD = "sandbox-password"
"""The login password the sandbox accepts unless told otherwise."""
DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
"""The connected-app consumer key (OAuth ``client_id``) accepted unless told otherwise."""
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
"""The connected-app consumer secret (OAuth ``client_secret``) accepted unless told otherwise."""
USER_ID = API_USER_ID
"""The API user's id (``OwnerId``, ``CreatedById``, ``LastModifiedById`` of its writes): every
session and OAuth token acts as this User."""

CALL_FAULTS: dict[str, tuple[int, str, str]] = {
    "server_unavailable": (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable."),
    "unknown_exception": (
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1234567890-12345 (-1234567890)",
    ),
    "concurrent_limit": (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
}
"""Faults that fail a whole API call: kind -> (status, errorCode, message)."""
ROW_FAULTS = frozenset({"unable_to_lock_row"})
"""Faults that fail single rows of sObject Collections calls."""


@dataclasses.dataclass
class Cursor:
    """The remaining pages of one query: all its records and the page size."""

    records: list[dict[str, Any]]
    batch_size: int


@dataclasses.dataclass
class Fault:
    """One armed fault: ``kind`` for the next ``remaining`` matching calls (or rows)."""

    kind: str
    remaining: int
    path_prefix: str = "/services/"
    method: str | None = None
    delay_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``GET /_sandbox/faults``."""
        return {
            "kind": self.kind,
            "count": self.remaining,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "delay_ms": self.delay_ms,
        }


class Faults:
    """Armed faults, consumed first-match in arming order."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, kind: str, count: int = 1, **options: Any) -> Fault:
        """Arm ``count`` uses of fault ``kind`` (a key of :data:`CALL_FAULTS`, ``slow`` or
        ``unable_to_lock_row``); options ``path_prefix``, ``method``, ``delay_ms``."""
        if kind not in CALL_FAULTS and kind not in ROW_FAULTS and kind != "slow":
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(
            kind=kind,
            remaining=int(count),
            path_prefix=str(options.get("path_prefix") or "/services/"),
            method=str(options["method"]).upper() if options.get("method") else None,
            delay_ms=int(options.get("delay_ms") or 0),
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_call(self, method: str, path: str) -> Fault | None:
        """The whole-call fault (or delay) that applies to this call, consuming one use."""
        return self._take(lambda f: f.kind not in ROW_FAULTS, method, path)

    def take_row(self, kind: str = "unable_to_lock_row") -> bool:
        """Whether the next collection row fails with row fault ``kind`` (consumes one use)."""
        return self._take(lambda f: f.kind == kind, None, None) is not None

    def _take(self, accept: Any, method: str | None, path: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if not accept(fault):
                    continue
                if path is not None and not path.startswith(fault.path_prefix):
                    continue
                if method is not None and fault.method not in (None, method):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self.faults.clear()


class SandboxState:
    """What the routes share: the org, credentials, sessions, open query cursors, the API call
    count, call statistics and armed faults.

    ``api_limit`` is the daily API allocation: once ``api_usage`` reaches it every API call is
    refused with 403 REQUEST_LIMIT_EXCEEDED. ``jwt_public_key`` (PEM) enables the JWT bearer
    grant. ``enforce_field_security``, when given, overrides the org's setting. ``world`` (and
    the ``loader`` that seeded it) let ``/_sandbox/scenario`` move that world forward.
    """

    def __init__(
        self,
        org: Org,
        *,
        session_token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        security_token: str = "",
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        api_limit: int = 15000,
        jwt_public_key: str | bytes | None = None,
        enforce_field_security: bool | None = None,
        world: World | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.org = org
        self.world = world
        self.loader = loader
        self.scenario: Scenario | None = None
        self.outbound = OutboundHub(org)
        self.session_token = session_token
        self.username = username
        self.password = password
        self.security_token = security_token
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.api_limit = api_limit
        self.jwt_public_key = jwt_public_key
        if enforce_field_security is not None:
            org.enforce_field_security = enforce_field_security
        self.api_usage = 0
        self.cursors: dict[str, Cursor] = {}
        self.stats = CallStats()
        self.faults = Faults()
        self.tokens: set[str] = {session_token}
        self._lock = threading.Lock()
        self._locators = itertools.count(1)

    def count_call(self) -> int:
        """Count one API call and return the running total."""
        with self._lock:
            self.api_usage += 1
            return self.api_usage

    def check_allocation(self) -> None:
        """Refuse the call once the daily allocation is used up."""
        if self.api_usage >= self.api_limit:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def set_api_usage(self, used: int) -> None:
        """Set the calls used in the current 24-hour window (e.g. to near the allocation)."""
        with self._lock:
            self.api_usage = max(0, int(used))

    def open_cursor(self, records: list[dict[str, Any]], batch_size: int) -> str:
        """Keep ``records`` for queryMore and return the new locator."""
        with self._lock:
            locator = f"01gSB{next(self._locators):010d}AAA"
            self.cursors[locator] = Cursor(records, batch_size)
            return locator

    def token_ok(self, token: str) -> bool:
        """Whether ``token`` is a live session."""
        return any(hmac.compare_digest(token, live) for live in self.tokens)

    def issue_token(self) -> str:
        """Start a new session (a login) and return its token."""
        token = f"{self.org.org_id[:15]}!{secrets.token_urlsafe(32)}"
        with self._lock:
            self.tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        """End every live session, the configured token's included: API calls answer 401
        INVALID_SESSION_ID until the client logs in again."""
        with self._lock:
            self.tokens.clear()

    def password_ok(self, username: str, password: str) -> bool:
        """Whether ``username``/``password`` (optionally followed by the security token) match."""
        accepted = {self.password, self.password + self.security_token}
        return hmac.compare_digest(username, self.username) and password in accepted

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        """Whether a connected app's consumer key and secret match."""
        return hmac.compare_digest(client_id, self.consumer_key) and hmac.compare_digest(
            client_secret, self.consumer_secret
        )
