"""Data contracts: infer what training data looks like, and check frames and records against it."""

from tether.contract.contract import Contract
from tether.contract.result import ValidationResult
from tether.contract.spec import ColumnSpec

__all__ = ["ColumnSpec", "Contract", "ValidationResult"]
