"""The crmpulse exception tree, grouped by what the runner does next.

::

    CrmPulseError
    ├── FatalError                 stop the run; a person has to act
    │   ├── ConfigError            settings are missing or inconsistent
    │   ├── AuthError              the CRM refused our credentials
    │   └── StoreError             the store cannot be opened or migrated
    ├── RetriableError             try again later (after a pause or next run)
    │   ├── RateLimitedError       the CRM said 429; ``retry_after`` seconds if it told us
    │   ├── QuotaExhaustedError    the daily allocation (or our reserve) is spent: stop cleanly
    │   │   └── BudgetExhaustedError   our own budget refused the call before the CRM had to
    │   └── CrmUnavailableError    5xx, timeouts, connection errors
    ├── SkippableError             this record or row is bad; quarantine it and go on
    │   ├── InvalidRecordError     a payload the mapper cannot normalize
    │   └── WriteRejectedError     the CRM rejected one row of a batch write
    └── WebhookRejected            an inbound webhook is refused; ``status`` is the HTTP answer

Vendor errors are translated into this tree at the connector edge; nothing above a connector
catches an SDK exception.
"""

from __future__ import annotations


class CrmPulseError(Exception):
    """Root of every error crmpulse raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class FatalError(CrmPulseError):
    """The run cannot go on; a person has to act."""


class ConfigError(FatalError):
    """Settings are missing, malformed or inconsistent."""


class AuthError(FatalError):
    """The CRM refused the credentials."""


class StoreError(FatalError):
    """The store cannot be opened, migrated or written."""


class RetriableError(CrmPulseError):
    """A transient failure: the same call may succeed later."""


class RateLimitedError(RetriableError):
    """The CRM throttled us."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, policy: str | None = None
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.policy = policy


class QuotaExhaustedError(RetriableError):
    """The daily allocation (or the reserve we keep) is spent; resume next run."""


class BudgetExhaustedError(QuotaExhaustedError):
    """The next call would eat into the reserve kept for the customer's other integrations;
    nothing was sent. The next run resumes."""


class CrmUnavailableError(RetriableError):
    """The CRM answered 5xx, timed out or could not be reached."""


class SkippableError(CrmPulseError):
    """One record or row is bad; quarantine it and continue."""


class InvalidRecordError(SkippableError):
    """A vendor payload that cannot be normalized."""

    def __init__(self, message: str, *, stream: str, record_id: str | None) -> None:
        super().__init__(f"{stream} record {record_id or '<no id>'}: {message}")
        self.stream = stream
        self.record_id = record_id


class WriteRejectedError(SkippableError):
    """The CRM rejected one row of a batch write."""


class WebhookRejected(CrmPulseError):
    """An inbound webhook request is refused (bad signature, stale, malformed, too large...).

    ``status`` is the HTTP status to answer with; the message says what was wrong without
    echoing secrets or the body.
    """

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
