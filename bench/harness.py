"""What the sync benchmarks share: an emulator in its own process, measured sync children.

Each sync runs as `crmpulse sync --json` in a child process that reports its own peak resident
memory, so the figures are the product's as a user runs it, not the benchmark's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

AS_OF = "2026-11-20"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(
    crm: str, scale: str, seed: int, token: str, *, probe: str = "/_sandbox/stats"
) -> tuple[subprocess.Popen[bytes], str]:
    """`crmpulse sandbox <crm>` in its own process; returns it and its base URL once it answers."""
    port = free_port()
    args = ["--port", str(port), "--seed", str(seed), "--scale", scale, "--token", token]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmpulse", "sandbox", crm, *args, "--as-of", AS_OF],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}{probe}", timeout=2)
            return proc, base
        except requests.ConnectionError:
            if proc.poll() is not None:
                raise SystemExit("sandbox exited early") from None
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("sandbox did not start in 10 minutes")


@contextmanager
def serving(
    crm: str, token: str, secret: str, workdir: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
    """`crmpulse serve` for the HubSpot emulator at ``crm`` in its own process (SQLite store in
    ``workdir``, output in ``workdir/serve.log``; ``settings`` are more ``CRMPULSE_*``
    variables): yields it, its base URL and the seconds until ``/readyz`` said ready, and stops
    it (SIGTERM, a graceful stop) on the way out."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_HUBSPOT__BASE_URL": crm,
        "CRMPULSE_HUBSPOT__ACCESS_TOKEN": token,
        "CRMPULSE_HUBSPOT__CLIENT_SECRET": secret,
        "CRMPULSE_STORE__URL": f"sqlite:///{workdir / 'serve.db'}",
        "CRMPULSE_LOG__LEVEL": "WARNING",
        **settings,
    }
    log = workdir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "crmpulse", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 600:
                raise SystemExit(f"serve did not get ready: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server, base, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=60)


def run_sync(
    env: dict[str, str], cwd: Path, timeout: float = 3600
) -> tuple[dict[str, Any], float, float]:
    """One `crmpulse sync --json` child: (report, wall seconds, peak RSS MiB of the child)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED_SYNC],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sync failed: {done.stderr[-2000:]}")
    peak_kib = int(done.stderr.rsplit("PEAK_RSS_KIB=", 1)[1].split()[0])
    return json.loads(done.stdout), wall, peak_kib / 1024


# `crmpulse sync --json` that reports its own peak resident memory on exit.
_MEASURED_SYNC = """
import atexit, resource, sys
atexit.register(lambda: sys.stderr.write(
    "\\nPEAK_RSS_KIB=%d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.argv = ["crmpulse", "sync", "--json"]
from crmpulse.cli import main
main()
"""
