"""Engines, transactions, error translation and migrations for the store.

SQLite connections run in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing when one upgrades a read
transaction. PostgreSQL sessions run in UTC. Every SQLAlchemy error leaving this package is a
``StoreError`` whose message names what failed on which (password-free) URL, with a hint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from crmpulse.errors import StoreError

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"
MIGRATIONS = HERE / "migrations"
BUSY_TIMEOUT_SECONDS = 30.0
_WRITE = "crmpulse_write"
# Arbitrary constant key: serializes concurrent "upgrade head" runs on one PostgreSQL database.
_MIGRATION_LOCK = 0x63726D70


def safe_url(url: str | URL) -> str:
    """Render a URL for messages, with any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _normalize(url: URL) -> URL:
    # Bare "postgresql://" would pick psycopg2, which is not a dependency; "postgres://" is the
    # spelling Heroku-style platforms hand out.
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _hint_for(message: str) -> str:
    lowered = message.lower()
    table = (
        (
            "database is locked",
            "another process holds the SQLite write lock; retry, or use "
            "PostgreSQL when several workers write at once",
        ),
        ("password authentication failed", "check the user and password in CRMPULSE_STORE__URL"),
        ("no such table", "the schema is missing or outdated; open the store with migrate=True"),
        ("relation ", "the schema is missing or outdated; open the store with migrate=True"),
        ("does not exist", "create the database (or role) first, e.g. `createdb <name>`"),
        ("unable to open database file", "check that the SQLite path exists and is writable"),
        ("connection refused", "is the database server running and reachable at that address?"),
        ("could not connect", "is the database server running and reachable at that address?"),
        ("connection failed", "is the database server running and reachable at that address?"),
        ("timeout", "the database did not answer in time; check the network and server load"),
    )
    for needle, hint in table:
        if needle in lowered:
            return hint
    return "check CRMPULSE_STORE__URL and that the database is reachable and migrated"


def describe(exc: BaseException, password: str | None = None) -> str:
    """The first line of the driver's message, without the password."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if password:
        first = first.replace(password, "***")
    return first[:400]


@contextmanager
def translate_errors(what: str, url: URL) -> Iterator[None]:
    """Turn SQLAlchemy errors raised inside the block into ``StoreError``."""
    try:
        yield
    except SQLAlchemyError as exc:
        detail = describe(exc, url.password if isinstance(url.password, str) else None)
        raise StoreError(
            f"{what} failed on {safe_url(url)}: {detail}", hint=_hint_for(detail)
        ) from exc


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.execute("PRAGMA foreign_keys=OFF")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(
    url: str, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
) -> tuple[Engine, URL]:
    """Build the engine for a store URL (creating a SQLite file's directory if needed).

    On SQLite ``synchronous`` says when a commit reaches the disk: ``NORMAL`` (WAL mode: a commit
    survives the process being killed; the last ones may roll back if the machine loses power) or
    ``FULL`` (every commit is synced before it returns).
    """
    try:
        parsed = _normalize(make_url(url))
    except ArgumentError as exc:
        raise StoreError(
            f"cannot parse store URL {safe_url(url)!r}: {exc}",
            hint="use sqlite:///path/to/crmpulse.db or postgresql+psycopg://user@host/db",
        ) from None
    serializer = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    kwargs: dict[str, Any] = {"json_serializer": serializer}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        elif not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for {safe_url(parsed)}: {exc}",
                    hint="check the path in CRMPULSE_STORE__URL and its permissions",
                ) from None
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"options": "-c timezone=UTC", "connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise StoreError(
            f"unsupported store URL {safe_url(parsed)}: {describe(exc)}",
            hint="crmpulse supports sqlite:///path and postgresql+psycopg://user@host/db",
        ) from None
    if backend == "sqlite":
        _sqlite_setup(engine, synchronous)
    return engine, parsed


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit.

    On SQLite, the writers of one process also queue on a lock of their own first: SQLite
    makes a writer that finds the database locked sleep and poll with growing pauses (up to
    100 ms), which a webhook answered while the worker writes would pay in latency.
    """
    lock = _sqlite_write_lock(engine)
    with lock, engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


_SQLITE_WRITE_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The process-wide write lock of a SQLite database file (a no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url.database or ":memory:")
    with _LOCKS_GUARD:
        lock = _SQLITE_WRITE_LOCKS.get(key)
        if lock is None:
            lock = _SQLITE_WRITE_LOCKS[key] = threading.RLock()
    return lock


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a read transaction, rolled back on exit."""
    with engine.connect() as conn, conn.begin() as txn:
        yield conn
        txn.rollback()


def alembic_config(connection: Connection | None = None) -> Config:
    """The packaged Alembic configuration, independent of the working directory."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest schema (a no-op when it is current)."""
    try:
        with write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            command.upgrade(alembic_config(conn), "head")
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate {safe_url(engine.url)}: {exc}",
            hint="the database may have been migrated by a newer crmpulse; upgrade crmpulse",
        ) from exc
