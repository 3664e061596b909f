"""The peers' own virtual environment (``benchmarks/.venv-peers``), kept apart from tether's."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

PEERS_VENV = Path(__file__).parent / ".venv-peers"
PEER_PACKAGES = ["pandera[polars]>=0.20,<1", "pandas>=2.1,<4", "polars>=1.0,<3", "pyarrow>=17"]


def peer_python() -> Path:
    """The peers' interpreter, creating the environment on first use."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != repr(PEER_PACKAGES):
        if not python.exists():
            venv.create(PEERS_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
        stamp.write_text(repr(PEER_PACKAGES))
    return python


def run_peer(script: str, *args: str) -> dict[str, float]:
    """Run ``benchmarks/<script>`` in the peers' environment; it prints one JSON line."""
    completed = subprocess.run(
        [str(peer_python()), str(Path(__file__).parent / script), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    if completed.stderr:
        print(completed.stderr, file=sys.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])
