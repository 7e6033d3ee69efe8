"""What the end-to-end tests share: an emulator in its own process, `crmpulse` in others."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

CRMPULSE = [sys.executable, "-m", "crmpulse"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(
    crm: str, token: str, *, probe: str = "/_sandbox/stats", as_of: str = "2026-11-20"
) -> Iterator[str]:
    """`crmpulse sandbox <crm>` (seed 11, tiny, as of ``as_of``); yields its base URL."""
    port = _free_port()
    args = ["--port", str(port), "--seed", "11", "--scale", "tiny", "--token", token]
    proc = subprocess.Popen(
        [*CRMPULSE, "sandbox", crm, *args, "--as-of", as_of],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sandbox exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            requests.get(f"{base}{probe}", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("sandbox did not start within 60 s")
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def crmpulse(env: dict[str, str], *args: str, secret: str) -> dict[str, Any]:
    """Run `crmpulse ARGS` with ``env`` next to its store; its JSON output, never ``secret``."""
    done = subprocess.run(
        [*CRMPULSE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(env["CRMPULSE_STORE__URL"].removeprefix("sqlite:///")).parent,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert secret not in done.stdout + done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def stats(base: str) -> int:
    """Calls the emulator has counted."""
    return int(requests.get(f"{base}/_sandbox/stats", timeout=5).json()["total"])


@contextmanager
def serve_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`crmpulse serve` on a free port, its output in ``log``; yields (base URL, process) once
    ``/readyz`` says the first sync is done. Stopped with SIGTERM (a graceful shutdown)."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CRMPULSE, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"crmpulse serve exited {proc.returncode}: {log.read_text()}")
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"crmpulse serve not ready within 120 s: {log.read_text()}")
            time.sleep(0.2)
        try:
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
