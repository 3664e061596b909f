"""tether keeps machine-learning models tied to production reality."""

from tether.contract import ColumnSpec, Contract, ValidationResult
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
    "FormatError",
    "InputError",
    "Profile",
    "TetherError",
    "UnsupportedVersionError",
    "ValidationError",
    "ValidationResult",
    "__version__",
    "content_hash",
    "iter_batches",
    "read",
]
