"""The peers' own virtual environments, kept apart from tether's.

``benchmarks/.venv-peers`` holds pandera; the drift peers need pandas < 3 and heavy dependency
trees of their own, so Evidently and NannyML each get one too (``.venv-evidently``,
``.venv-nannyml``). Each is created on first use and reinstalled when its package list changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

PEERS_VENV = Path(__file__).parent / ".venv-peers"
PEER_PACKAGES = ["pandera[polars]>=0.20,<1", "pandas>=2.1,<4", "polars>=1.0,<3", "pyarrow>=17"]
# NannyML imports statsmodels without declaring it; both drift peers break on pandas 3.
EVIDENTLY_PACKAGES = ["evidently==0.7.23", "pandas>=2.2,<3", "pyarrow>=17"]
NANNYML_PACKAGES = ["nannyml==0.13.1", "statsmodels>=0.14", "pandas>=2.2,<3", "pyarrow>=17"]
# Deepchecks 0.19.1 (its last release) fails to import with the newest scikit-learn (no
# max_error scorer) and uses np.NINF (gone in numpy 2); recent pyarrow needs numpy 2.
DEEPCHECKS_PACKAGES = [
    "deepchecks==0.19.1",
    "scikit-learn>=1.4,<1.6",
    "numpy>=1.26,<2",
    "pandas>=2.2,<3",
    "pyarrow>=17,<20",
]
ENVIRONMENTS = {
    "peers": (PEERS_VENV, PEER_PACKAGES),
    "evidently": (Path(__file__).parent / ".venv-evidently", EVIDENTLY_PACKAGES),
    "nannyml": (Path(__file__).parent / ".venv-nannyml", NANNYML_PACKAGES),
    "deepchecks": (Path(__file__).parent / ".venv-deepchecks", DEEPCHECKS_PACKAGES),
}
# No usage reporting from the peers (NannyML and Evidently both phone home by default).
PEER_ENVIRONMENT = {"NML_DISABLE_USAGE_LOGGING": "1", "DO_NOT_TRACK": "1"}


def peer_python(environment: str = "peers") -> Path:
    """The interpreter of one of ``ENVIRONMENTS``, creating the environment on first use."""
    folder, packages = ENVIRONMENTS[environment]
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    if not stamp.exists() or stamp.read_text() != repr(packages):
        if not python.exists():
            venv.create(folder, with_pip=True)
            (folder / ".gitignore").write_text("*\n")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
        stamp.write_text(repr(packages))
    return python


def run_peer(
    script: str, *args: str, environment: str = "peers", timeout: float | None = None
) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` in one of ``ENVIRONMENTS``; it prints one JSON line."""
    completed = subprocess.run(
        [str(peer_python(environment)), str(Path(__file__).parent / script), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **PEER_ENVIRONMENT},
        timeout=timeout,
    )
    if completed.stderr:
        print(completed.stderr, file=sys.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])
