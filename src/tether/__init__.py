"""tether keeps machine-learning models tied to production reality.

``tether.drift`` is the function that compares data with a reference; its package's other
names are imported from it directly, e.g. ``from tether.drift import PCAReconstructionDrift``.
"""

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

__version__ = "0.1.0"

__all__ = [
    "ColumnProfile",
    "ColumnSpec",
    "Contract",
    "ContractError",
    "DriftReport",
    "FormatError",
    "InputError",
    "Profile",
    "TetherError",
    "UnsupportedVersionError",
    "ValidationError",
    "ValidationResult",
    "__version__",
    "content_hash",
    "drift",
    "iter_batches",
    "read",
]
