"""tether keeps machine-learning models tied to production reality."""

from tether.errors import (
    ContractError,
    FormatError,
    InputError,
    TetherError,
    UnsupportedVersionError,
    ValidationError,
)
from tether.frame import content_hash, iter_batches, read

__version__ = "0.1.0"

__all__ = [
    "ContractError",
    "FormatError",
    "InputError",
    "TetherError",
    "UnsupportedVersionError",
    "ValidationError",
    "__version__",
    "content_hash",
    "iter_batches",
    "read",
]
