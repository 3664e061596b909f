"""Load from a second process: ``wrk`` on loopback, rotating over pre-generated request bodies.

wrk (C, one event-loop thread) costs far less per request than any Python client, which matters
on a 2-core machine where the client and the server share the cores. With one connection it
sends requests one after the other, so its percentiles are pure latency; with several it keeps
that many requests in flight and its request rate is the server's throughput.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("rotate.lua")
MARK = "tether-serving-result "


@dataclass(frozen=True)
class Load:
    """What one wrk run measured at the client: answered requests, seconds, latency
    percentiles (ms) and failed requests (non-2xx answers, timeouts, socket errors)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def ensure_wrk() -> str:
    """The path of ``wrk``, installed from the Debian package when missing (as ``make postgres``
    installs PostgreSQL: ``sudo`` only when not root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian packages", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        check=True,
        env=env,
    )
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("apt-get installed wrk but it is not on PATH")
    return found


def run_load(wrk: str, url: str, bodies: Path, connections: int, seconds: int) -> Load:
    """POST the bodies of ``bodies`` (one JSON document a line, in turn) to ``url`` over
    ``connections`` keep-alive connections for ``seconds``."""
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
        "-s", str(SCRIPT), url, "--", str(bodies),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}{done.stdout}")
    result = json.loads(lines[-1][len(MARK) :])
    return Load(
        requests=int(result["requests"]),
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        failed=int(sum(result["errors"].values())),
    )
