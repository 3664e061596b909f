"""A real ``tether serve`` in a subprocess on a free loopback port, for tests that need the server
as its clients meet it: sockets, uvicorn, worker processes, signals.

The child runs in a session of its own, so one signal to its process group reaches every uvicorn
worker. A watchdog thread in it kills that whole group when the test process goes away or after
``lifetime`` seconds, so no server outlives the test that started it, whatever the test does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_S = 60.0
"""Longest wait for ``/v1/ready`` (loading a bundle takes a few seconds; xdist halves the CPU)."""

_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time

    options = json.loads(sys.argv[1])

    def watchdog(parent=os.getppid(), end=time.monotonic() + options.pop("lifetime")):
        while os.getppid() == parent and time.monotonic() < end:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)  # this process and every uvicorn worker

    threading.Thread(target=watchdog, daemon=True).start()
    from tether.serve import Limits, run

    limits = options.pop("limits")
    run(limits=None if limits is None else Limits(**limits), **options)
    """
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``tether.serve.run`` in a child process, started by ``with`` (ready when the block
    begins) and stopped at its end (SIGTERM, then SIGKILL to the whole group).

    Parameters
    ----------
    registry
        Root of the registry holding ``ref``.
    store_url
        The prediction store the server logs to.
    log
        File receiving the server's standard output and error.
    ref
        The registry ref to serve.
    workers
        uvicorn worker processes.
    token
        Admin token, passed through ``TETHER_TOKEN`` (never on the command line).
    limits
        Keyword arguments of :class:`tether.serve.Limits`.
    lifetime
        Seconds after which the child kills itself, whatever happens here.
    """

    def __init__(
        self,
        registry: Path,
        store_url: str,
        log: Path,
        *,
        ref: str = "late@champion",
        workers: int = 1,
        token: str | None = None,
        limits: dict[str, int] | None = None,
        lifetime: float = 120.0,
    ) -> None:
        self.registry = registry
        self.store_url = store_url
        self.log = log
        self.ref = ref
        self.workers = workers
        self.token = token
        self.limits = limits
        self.lifetime = lifetime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start the child and wait until ``/v1/ready`` answers 200 (fails the test if not)."""
        options: dict[str, Any] = {
            "ref": self.ref,
            "port": self.port,
            "workers": self.workers,
            "registry": str(self.registry),
            "store_url": self.store_url,
            "limits": self.limits,
            "lifetime": self.lifetime,
        }
        env = {k: v for k, v in os.environ.items() if k != "TETHER_TOKEN"}
        if self.token is not None:
            env["TETHER_TOKEN"] = self.token
        for _ in range(3):  # another process may take the free port before the server
            start = self.log.stat().st_size if self.log.exists() else 0
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _CHILD, json.dumps(options)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )
            try:
                if self._wait_ready(start):
                    return self
            except BaseException:
                self.kill()
                raise
            self.kill()
            self.port = options["port"] = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        pytest.fail(f"three free ports were taken before the server could listen: {self.log}")

    def kill(self) -> None:
        """SIGKILL every process of the server at once, as a crash would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Ask the server to shut down (SIGTERM); SIGKILL the group if it takes over 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        self.kill()  # also any worker the supervisor left behind

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, start: int) -> bool:
        """True once ``/v1/ready`` answers 200, False when the port was taken; fails the test
        on any other exit or after :data:`STARTUP_S`. ``start``: where this run's log begins."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_S
        while True:
            if self.process.poll() is not None:
                printed = self.log.read_bytes()[start:].decode(errors="replace")
                if "address already in use" in printed:
                    return False
                pytest.fail(f"server exited ({self.process.returncode}): {printed[-3000:]}")
            try:
                if httpx.get(f"{self.url}/v1/ready", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in {STARTUP_S} s: {self.log_text()[-3000:]}")
            time.sleep(0.1)
