"""Structured logging: readable in a terminal, JSON lines in production."""

from __future__ import annotations

import logging
import sys

import structlog

from crmpulse.settings import LogSettings

_REDACT = ("token", "secret", "password", "authorization")


def _redact(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key in list(event):
        if any(word in key.lower() for word in _REDACT):
            event[key] = "***"
    return event


def configure(settings: LogSettings) -> None:
    """Configure structlog once per process; logs go to stderr."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(settings.level)),
        # Resolve sys.stderr per logger, not once: it may be replaced after configuration.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)
