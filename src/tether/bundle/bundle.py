"""``Bundle``: a fitted model and everything later stages need, immutable and addressed by content.

A bundle is built once (:meth:`Bundle.build`, see :mod:`tether.bundle.build` for what it
computes), stored as files plus a manifest of their checksums (:mod:`tether.bundle.layout`), and
from then on only read. A built bundle is the stored one: :meth:`Bundle.build` serializes
everything and loads the result back, so the model that answers in a notebook is byte for byte
the model a server loads.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import fsspec
import numpy as np
import polars as pl

from tether.bundle import layout
from tether.bundle.onnx import OnnxScorer
from tether.bundle.serialization import load_model
from tether.contract import Contract
from tether.contract import dtypes as contract_dtypes
from tether.errors import InputError, TetherError, first_line
from tether.frame import Data, read
from tether.performance.baseline import ALL
from tether.performance.fairness import REPRESENTATION_SCHEMA, FairnessReport
from tether.performance.metrics import predicted
from tether.profile import Profile

if TYPE_CHECKING:
    from tether.performance.estimation import PerformanceEstimator

MODEL_DIR = "model/"
ONNX_FILE = "model/model.onnx"
DLE_FILE = "estimation/dle.json"
FAIRNESS_FILE = "fairness.json"


class Bundle:
    """A model version: the fitted model with its preprocessing, its data contract, the reference
    profile of its training data, baseline metrics on validation data, and its lineage.

    Build one with :meth:`Bundle.build`, store it with :meth:`save` or a
    :class:`~tether.registry.Registry`, read it with :meth:`load`. ``version`` is the SHA-256 of
    the manifest, which lists the checksum of every file: two bundles with the same version hold
    the same bytes.

    Attributes: ``version``, ``metadata`` (the manifest's), ``task`` (``binary``, ``multiclass``
    or ``regression``), ``target``, ``features`` (the raw input columns, in order), ``classes``
    (the model's order; empty for regression), ``threshold`` (on the positive class score),
    ``online_path`` (``onnx`` when the ONNX form matched the native model at build time, else
    ``native``), ``model``, ``contract``, ``reference`` and ``prediction_profile`` (profiles of
    the training data and of the validation scores), ``metrics``, ``calibration``,
    ``importance`` (frames), ``cost``, ``lineage``, ``background`` (training rows for
    explanations), ``reference_rows`` (a sample of validation features: the weak-segment
    search's reference), ``reference_scores`` (validation scores, encoded labels and segment
    columns: the monitor's reference), ``training_representation`` and ``fairness`` (rows and
    base rates per sensitive group in training; group metrics and disparities on validation)
    and ``feature_schema`` (polars types of the features).

    Example
    -------
    >>> import polars as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> model = LogisticRegression().fit(frame.select("x"), frame["y"])
    >>> bundle = Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=20)
    >>> bundle.task, bundle.features, bundle.online_path
    ('binary', ['x'], 'onnx')
    >>> bundle.predict_record({"x": 3.0})["prediction"]
    1
    """

    def __init__(
        self,
        manifest: Mapping[str, Any],
        files: Mapping[str, bytes],
        version: str,
        *,
        trusted: bool = False,
    ) -> None:
        self._files = dict(files)
        self._manifest_bytes = layout.encode_manifest(self._files, manifest["metadata"])
        if layout.version_of(self._manifest_bytes) != version:
            raise InputError("bundle files do not match the version they were stored under")
        self.version = version
        self.metadata: dict[str, Any] = dict(manifest["metadata"])
        # read on every prediction: plain attributes, not lookups into the metadata
        self.task: str = self.metadata["task"]
        self.target: str = self.metadata["target"]
        self.features: list[str] = list(self.metadata["features"])
        self.classes: list[Any] = list(self.metadata["classes"])
        self.threshold = float(self.metadata["threshold"])
        self.online_path: str = self.metadata["onnx"]["online_path"]
        model_files = {
            path.removeprefix(MODEL_DIR): content
            for path, content in self._files.items()
            if path.startswith(MODEL_DIR) and path != ONNX_FILE
        }
        model_meta = self.metadata["model"]
        self.model = load_model(
            model_meta["kind"], model_files, model_meta["details"], trusted=trusted
        )
        self.contract = Contract.from_yaml(self._files["contract.yaml"].decode())
        self.reference = Profile.from_json(self._files["reference.json"].decode())
        self.prediction_profile = Profile.from_json(self._files["predictions.json"].decode())
        self.lineage: dict[str, Any] = json.loads(self._files["lineage.json"])
        baseline = json.loads(self._files["baseline.json"])
        self.metrics = table_from_json(baseline["metrics"])
        self.calibration = table_from_json(baseline["calibration"])
        self.importance = table_from_json(baseline["importance"])
        self.cost: dict[str, Any] | None = baseline["cost"]
        self.background = pl.read_parquet(io.BytesIO(self._files["background.parquet"]))
        scored = self._files.get("reference_scores.parquet")
        # validation scores, labels (encoded as in tether.performance) and segment columns;
        # None in bundles built before tether kept them
        self.reference_scores: pl.DataFrame | None = (
            None if scored is None else pl.read_parquet(io.BytesIO(scored))
        )
        stored_fairness = self._files.get(FAIRNESS_FILE)
        fair = None if stored_fairness is None else json.loads(stored_fairness)
        # who the training data holds per sensitive group, with base rates (None: no
        # sensitive attributes declared)
        self.training_representation: pl.DataFrame | None = (
            None if fair is None
            else pl.DataFrame(fair["training"]["groups"], schema=REPRESENTATION_SCHEMA)
        )  # fmt: skip
        # group metrics and disparities on validation; None when none are declared or, with
        # ``fairness_reason`` saying why, when they could not be measured
        self.fairness: FairnessReport | None = (
            None if fair is None or fair["validation"] is None
            else FairnessReport.from_dict(fair["validation"])
        )  # fmt: skip
        self.fairness_reason: str | None = None if fair is None else fair["reason"]
        rows = self._files.get("reference_rows.parquet")
        # a sample of validation features (None in bundles built before tether kept them)
        self.reference_rows: pl.DataFrame | None = (
            None if rows is None else pl.read_parquet(io.BytesIO(rows))
        )
        self.feature_schema: dict[str, pl.DataType] = {
            name: contract_dtypes.to_polars(dtype)
            for name, dtype in self.metadata["feature_schema"].items()
        }
        self._onnx: OnnxScorer | None = None
        if self.online_path == "onnx":
            self._onnx = OnnxScorer(
                self._files[ONNX_FILE], self.metadata["onnx"]["inputs"], task=self.task
            )

    @property
    def output_columns(self) -> list[str]:
        """The columns of this model's scores in predictions and the prediction log."""
        return output_columns(self.task, self.classes)

    def baseline(self, metric: str, segment: str | None = None, value: Any = None) -> float | None:
        """The validation estimate of ``metric``, overall or for one level of ``segment`` (None
        when the bundle has none, or it was undefined, e.g. precision without a predicted
        positive)."""
        key = (metric, segment or ALL, ALL if segment is None else str(value))
        return self._baselines.get(key)

    @functools.cached_property
    def _baselines(self) -> dict[tuple[str, str, str], float]:
        rows = self.metrics.select("metric", "segment", "value", "estimate").iter_rows()
        return {
            (metric, segment, value): float(estimate)
            for metric, segment, value, estimate in rows
            if estimate is not None and math.isfinite(estimate)
        }

    def estimator(self) -> PerformanceEstimator | None:
        """The estimator of this model's performance without labels: CBPE fitted on the stored
        validation scores (classifiers) or the DLE nanny models trained at build (regressors);
        None for bundles that carry neither."""
        from tether.performance.estimation import CBPE, DLE

        if self.task == "regression":
            stored = self._files.get(DLE_FILE)
            return None if stored is None else DLE.from_bytes(stored)
        if self.reference_scores is None:
            return None
        scores = self.reference_scores.select(self.output_columns).to_numpy()
        cost = self.metadata.get("cost")
        return CBPE(threshold=self.threshold, cost=cost).fit(
            self.reference_scores.get_column("label").to_numpy(),
            scores if self.task == "multiclass" else scores[:, 0],
        )

    # -- construction and storage ------------------------------------------------------------

    @classmethod
    def build(cls, model: Any, train: Data, valid: Data, target: str, **options: Any) -> Bundle:
        """Capture ``model`` (fitted, preprocessing included) with everything later stages need.

        See :func:`tether.bundle.build.build_bundle` for the options.
        """
        from tether.bundle.build import build_bundle

        return build_bundle(model, train, valid, target, **options)

    @classmethod
    def from_stored(
        cls,
        manifest: Mapping[str, Any],
        files: Mapping[str, bytes],
        version: str,
        *,
        trusted: bool = False,
    ) -> Bundle:
        """A bundle from verified stored files (what :func:`tether.bundle.layout.read` returns)."""
        return cls(manifest, files, version, trusted=trusted)

    def stored(self) -> tuple[dict[str, bytes], bytes]:
        """The bundle's files (relative path -> bytes) and its manifest bytes."""
        return dict(self._files), self._manifest_bytes

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the bundle to a folder (local path or fsspec URL) and return its version.

        Saving into a folder that already holds this version is a no-op; a folder holding
        anything else is refused, so a stored bundle is never overwritten.
        """
        fs, root = fsspec.core.url_to_fs(os.fspath(path))
        if fs.exists(root) and fs.find(root):
            try:
                _, _, stored = layout.read(fs, root)
            except TetherError:
                stored = None
            if stored == self.version:
                return self.version
            raise InputError(f"{os.fspath(path)}: folder is not empty; save a bundle to a new one")
        layout.write(fs, root, self._files, self._manifest_bytes)
        return self.version

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, version: str | None = None, trusted: bool = False
    ) -> Bundle:
        """Read and verify a bundle folder written by :meth:`save`.

        Every file is checked against the manifest; with ``version`` (what :meth:`save`
        returned, or what a registry recorded) the manifest itself is checked too, so an edit
        that rewrote files and manifest together is also caught.
        """
        fs, root = fsspec.core.url_to_fs(os.fspath(path))
        manifest, files, stored = layout.read(fs, root, expected_version=version)
        return cls(manifest, files, stored, trusted=trusted)

    # -- what the bundle says about its model ------------------------------------------------

    def __repr__(self) -> str:
        model = self.metadata["model"]["summary"]
        return (
            f"Bundle(version={self.version[:12]}, task={self.task}, model={model}, "
            f"features={len(self.features)}, online_path={self.online_path})"
        )

    # -- scoring -----------------------------------------------------------------------------

    def scores(self, data: Data) -> np.ndarray:
        """Raw model output for a frame on the batch path (the native model); see
        :func:`model_scores`."""
        return model_scores(self.model, read(data, columns=self.features), self.task)

    def predict(self, data: Data) -> pl.DataFrame:
        """Predictions for a frame: ``prediction`` plus ``score`` (binary) or ``proba_<class>``
        columns (multiclass), and the id column first when the frame has it."""
        frame = read(data)
        out = self._outputs(self.scores(frame))
        id_column = self.metadata.get("id_column")
        if id_column and id_column in frame.columns:
            out = out.insert_column(0, frame[id_column])
        return out

    def predict_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Prediction for one record (a dict of raw feature values) on the online path.

        Uses the ONNX form when its parity with the native model held at build time; the result
        matches :meth:`predict` on the same row within the recorded tolerance.
        """
        score = self.score_record(record)
        # Built by hand, not through a one-row frame: polars costs ~0.4 ms per tiny frame,
        # ten times the ONNX call itself.
        if self.task == "regression":
            return {"prediction": float(score)}
        if self.task == "binary":
            value = float(score)
            return {"prediction": self.classes[int(value >= self.threshold)], "score": value}
        out: dict[str, Any] = {"prediction": self.classes[int(np.argmax(score))]}
        out |= {f"proba_{label}": float(p) for label, p in zip(self.classes, score, strict=True)}
        return out

    def score_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """Raw model output for one record on the online path: a 0-d array (binary score or
        regression prediction) or the (k,) class probabilities."""
        if self._onnx is None:
            return self._native_record(record)
        raw = np.asarray(self._onnx.score_record(record), dtype=np.float64).reshape(-1)
        if not np.isfinite(raw).all():
            # ONNX turns what the native model refuses (a missing value without an imputer)
            # into NaN; the native model gives the same answer or error as the batch path.
            return self._native_record(record)
        if self.task == "binary":
            return raw[1]
        return raw if self.task == "multiclass" else raw[0]

    def _native_record(self, record: Mapping[str, Any]) -> np.ndarray:
        frame = self.record_frame(record)
        try:
            return np.asarray(self.scores(frame)[0])
        except ValueError as exc:  # what scikit-learn raises for values it cannot take
            raise InputError(f"the model refused the record: {first_line(exc)}") from None

    def record_frame(self, record: Mapping[str, Any]) -> pl.DataFrame:
        """One record as a one-row frame with the training schema (missing keys are null)."""
        try:
            return pl.DataFrame(
                {name: [record.get(name)] for name in self.features}, schema=self.feature_schema
            )
        except (TypeError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"record does not fit the model's input schema: {exc}") from None

    def transform(self, data: Data) -> pl.DataFrame:
        """The model's preprocessing applied to raw rows: the features its estimator sees."""
        steps = getattr(self.model, "steps", None)
        if not steps or len(steps) < 2:
            raise InputError("the model has no preprocessing steps separate from its estimator")
        preprocess = self.model[:-1]
        values = preprocess.transform(read(data, columns=self.features))
        if hasattr(values, "toarray"):
            values = values.toarray()
        if isinstance(values, pl.DataFrame):
            return values
        names = [str(n) for n in preprocess.get_feature_names_out()]
        return pl.DataFrame(np.asarray(values, dtype=np.float64), schema=names, orient="row")

    def explain(self, data: Data, *, seed: int = 0) -> Any:
        """Per-row feature contributions (see :func:`tether.bundle.explain.explain`)."""
        from tether.bundle.explain import explain

        return explain(
            self.model,
            read(data, columns=self.features),
            features=self.features,
            task=self.task,
            background=self.background,
            seed=seed,
        )

    def _outputs(self, scores: np.ndarray) -> pl.DataFrame:
        if self.task == "regression":
            return pl.DataFrame({"prediction": scores})
        labels = pl.Series("prediction", self.classes).gather(predicted(scores, self.threshold))
        if self.task == "binary":
            return pl.DataFrame([labels, pl.Series("score", scores)])
        columns = {f"proba_{label}": scores[:, i] for i, label in enumerate(self.classes)}
        return pl.DataFrame([labels]).with_columns(**columns)


def output_columns(task: str, classes: list[Any]) -> list[str]:
    """The output columns of a model's scores, as predictions and the prediction log name them:
    ``score`` (binary), ``proba_<class>`` (multiclass) or ``prediction`` (regression).

    >>> output_columns("multiclass", ["a", "b"])
    ['proba_a', 'proba_b']
    """
    if task == "binary":
        return ["score"]
    if task == "multiclass":
        return [f"proba_{label}" for label in classes]
    return ["prediction"]


def table_to_json(frame: pl.DataFrame) -> dict[str, Any]:
    """A small result table as JSON: column types (contract dtype names) and rows, so it reads
    back with its column order and types even where a column starts with nulls."""
    # a list of pairs, not a dict: the JSON writer sorts keys, and the rows follow this order
    columns = [[name, contract_dtypes.canonical(dtype)] for name, dtype in frame.schema.items()]
    return {"columns": columns, "rows": frame.rows()}


def table_from_json(table: Mapping[str, Any]) -> pl.DataFrame:
    """The frame :func:`table_to_json` wrote."""
    schema = {name: contract_dtypes.to_polars(dtype) for name, dtype in table["columns"]}
    return pl.DataFrame(table["rows"], schema=schema, orient="row")


def encode_target(y: pl.Series, task: str, classes: list[Any]) -> np.ndarray:
    """Target values as the metrics expect them: class indices in ``classes`` order, or floats."""
    if y.null_count():
        raise InputError(
            f"valid has {y.null_count()} rows with a missing target {y.name!r}; drop them first"
        )
    if task == "regression":
        return y.cast(pl.Float64).to_numpy()
    unknown = y.filter(~y.is_in(classes)).unique().head(5).to_list()
    if unknown:
        raise InputError(
            f"target {y.name!r} has values {unknown} the model's classes {classes} do not contain"
        )
    return y.replace_strict(classes, list(range(len(classes))), return_dtype=pl.Int64).to_numpy()


def model_scores(model: Any, frame: pl.DataFrame, task: str) -> np.ndarray:
    """A fitted model's raw output on a frame of its features.

    binary: probability of the second class; multiclass: (n, k) probabilities; regression:
    predictions.
    """
    if task == "regression":
        return np.asarray(model.predict(frame), dtype=np.float64)
    proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
    return proba[:, 1] if task == "binary" else proba
