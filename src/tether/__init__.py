"""tether keeps machine-learning models tied to production reality.

``tether.drift`` is the function that compares data with a reference; its package's other
names are imported from it directly, e.g. ``from tether.drift import PCAReconstructionDrift``.
``Bundle``, ``Registry``, ``TrainingRun`` and ``seed_everything`` are imported on first use, so
``import tether`` stays quick for code that never touches a model.
"""

import importlib
from typing import TYPE_CHECKING, Any

from tether.contract import ColumnSpec, Contract, ValidationResult
from tether.drift import DriftReport, drift
from tether.errors import (
    ContractError,
    FormatError,
    InputError,
    TetherError,
    UnsupportedVersionError,
    ValidationError,
)
from tether.frame import content_hash, iter_batches, read
from tether.profile import ColumnProfile, Profile

if TYPE_CHECKING:
    from tether.bundle import Bundle, TrainingRun, seed_everything
    from tether.registry import Registry

__version__ = "0.1.0"

_LAZY = {
    "Bundle": "tether.bundle",
    "TrainingRun": "tether.bundle",
    "seed_everything": "tether.bundle",
    "Registry": "tether.registry",
}

__all__ = [
    "Bundle",
    "ColumnProfile",
    "ColumnSpec",
    "Contract",
    "ContractError",
    "DriftReport",
    "FormatError",
    "InputError",
    "Profile",
    "Registry",
    "TetherError",
    "TrainingRun",
    "UnsupportedVersionError",
    "ValidationError",
    "ValidationResult",
    "__version__",
    "content_hash",
    "drift",
    "iter_batches",
    "read",
    "seed_everything",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
