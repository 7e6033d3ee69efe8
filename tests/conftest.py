"""Shared fixtures: a throwaway PostgreSQL cluster and fresh store URLs.

``pg_url`` is a PostgreSQL database for the whole session: ``$CRMPULSE_TEST_PG_URL`` when set,
otherwise a temporary cluster started from the local PostgreSQL binaries (as the ``postgres`` user
when running as root, since PostgreSQL refuses to run as root) and stopped at the end. Without
binaries the PostgreSQL tests are skipped, or fail when ``$CI`` is set.

``any_store_url`` runs a test once on SQLite and once on PostgreSQL (marked ``postgres``), each
time with a new, empty database: ``pytest -m "not postgres"`` runs the SQLite half only.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

PG_URL_ENV = "CRMPULSE_TEST_PG_URL"
PG_USER = "postgres"
SESSION_DB = "crmpulse_test"


def _pg_bindir() -> Path | None:
    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason} (or set {PG_URL_ENV})")


def _conninfo(url: URL) -> str:
    """A libpq URI for psycopg from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class _Cluster:
    """A temporary PostgreSQL cluster owned by this test session."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="crmpulse-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            try:
                account = pwd.getpwnam(PG_USER)
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                _unavailable("running as root and there is no 'postgres' user to run the server")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", PG_USER, "--", *command]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, env=env, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            log = str(self.root / "server.log")
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    log,
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                )
                return
            except RuntimeError as exc:
                last_error = exc
        raise RuntimeError(f"cannot start PostgreSQL: {last_error}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=PG_USER,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )


def _create_database(admin: URL, name: str) -> None:
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(admin: URL, name: str) -> None:
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database URL (``postgresql+psycopg://...``) for the whole test session."""
    from_env = os.environ.get(PG_URL_ENV)
    if from_env:
        yield from_env
        return
    bindir = _pg_bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl found under /usr/lib/postgresql/*/bin or on PATH")
        return
    cluster = _Cluster(bindir)
    try:
        cluster.start()
        _create_database(cluster.url("postgres"), SESSION_DB)
        yield cluster.url(SESSION_DB).render_as_string(hide_password=False)
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_database_factory(pg_url: str) -> Iterator[Callable[[], str]]:
    """Makes new, empty PostgreSQL databases on the session's server; drops them at the end."""
    admin = make_url(pg_url)
    counter = itertools.count(1)
    created: list[str] = []

    def create() -> str:
        name = f"crmpulse_t{os.getpid()}_{next(counter)}"
        _create_database(admin, name)
        created.append(name)
        return admin.set(database=name).render_as_string(hide_password=False)

    yield create
    for name in created:
        _drop_database(admin, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file in a directory yet to be made, or a PG database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'crmpulse.db'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()
