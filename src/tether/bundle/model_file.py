"""Reading a fitted model saved by a training script, for ``tether bundle build``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from tether.bundle.serialization import load_model
from tether.errors import InputError, UntrustedArtifactError, first_line


def read_model_file(path: str | os.PathLike[str], *, trusted: bool = False) -> Any:
    """Load a model file: ``.skops`` safely (only scikit-learn, NumPy and SciPy types), or a
    pickle (``.pkl``, ``.pickle``, ``.joblib``) when ``trusted`` — unpickling runs code the file
    chooses, so only for files whose origin you trust."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such model file")
    suffix = file.suffix.lower()
    if suffix == ".skops":
        return load_model("skops", {"model.skops": file.read_bytes()}, {}, trusted=trusted)
    if suffix in (".pkl", ".pickle", ".joblib"):
        if not trusted:
            raise UntrustedArtifactError(
                f"{file} is a pickle, which runs arbitrary code when loaded; save the model with "
                "skops (skops.io.dump) or pass --trusted if you trust the file's origin"
            )
        if suffix == ".joblib":
            import joblib

            return joblib.load(file)
        try:
            with file.open("rb") as handle:
                return pickle.load(handle)  # the caller declared the file trusted
        except Exception as exc:
            raise InputError(f"{file}: cannot be unpickled ({first_line(exc)})") from None
    raise InputError(f"{file}: unknown model file type {suffix!r}; use .skops, .pkl or .joblib")
