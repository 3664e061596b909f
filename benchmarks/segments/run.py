"""Weak-segment discovery benchmark: ``tether.performance.segments`` on planted weak segments,
on null data, at 1M rows, and against Deepchecks' ``WeakSegmentsPerformance``.

Data (``data.py``): 20 features, a calibrated score, labels drawn from it; a planted trial
flips a share of the labels inside 6 segments of 1-3 conditions (two of each depth, 1.25%-8% of
the rows). ``WeakSegments`` (``PARAMS``) is fitted once on a clean reference of 100k rows and
searches each current frame with the 0/1 error at threshold 0.5 as loss and the error the
scores expect as ``expected``.

A reported segment *matches* a planted one when the Jaccard index of their row sets is at
least ``JACCARD``. Precision = matched reported / reported, counting only segments of kind
``worse_than_expected`` (``low_confidence`` ones say the scores already expected the errors:
true statements about a calibrated model, not claims of a fault); recall = planted found /
planted. Both are pooled over the trials. The residual row searches ``loss - expected`` with
no ``expected`` (every reported segment counts): the excess of the segment over the excess of
the rest.

Four results, all in ``results/segments.md``: planted trials (bars: precision and recall >=
0.9), null trials (bar: >= 95% of trials report nothing worse than expected), speed (bar: fit +
find <= 30 s at 1M rows x 20 columns, best of ``SPEED_REPEATS``) and Deepchecks on the first
planted and null frames, with its defaults and its most favourable settings (in its own
environment; ``TETHER_BENCH_PEERS=0`` skips it, ``=cached`` reuses its last results).

Run with ``python -m benchmarks.segments.run`` (about 13 minutes, 12 of them Deepchecks) or
``--quick`` (a few trials of each, Deepchecks defaults only, written to
``results/segments-quick.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from benchmarks.drift.run import peer, peers_mode
from benchmarks.measure import best_of
from benchmarks.peers import ENVIRONMENTS
from benchmarks.report import _cell, write_table
from benchmarks.segments import data
from tether.performance.segments import WeakSegments, error_loss, expected_error

FRAMES = Path(__file__).resolve().parent.parent / "data" / "segments"
PARAMS: dict[str, Any] = {
    "max_conditions": 3,
    "bins": 5,
    "max_levels": 20,
    "min_support": 0.01,
    "min_rows": 50,
    "alpha": 0.05,
    "min_gap": 0.0,
    "beam": 50,
}
JACCARD = 0.8
REFERENCE_ROWS = 100_000
PLANTED_SEED = 10_000
NULL_SEED = 20_000


@dataclass(frozen=True)
class Plan:
    """How many trials of each part, and at which sizes."""

    planted_rows: int = 100_000
    planted_trials: int = 20
    null_sizes: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"30k": (30_000, 100), "100k": (100_000, 5)}
    )
    speed_rows: int = 1_000_000
    speed_repeats: int = 2
    deepchecks: dict[str, tuple[int, int]] = field(
        # setting: (planted trials, null trials); a default run takes ~15 s a frame, a
        # favourable one ~140 s
        default_factory=lambda: {"default": (5, 5), "favourable": (3, 1)}
    )
    name: str = "segments"


QUICK = Plan(
    planted_trials=4,
    null_sizes={"30k": (30_000, 20), "100k": (100_000, 1)},
    speed_rows=200_000,
    deepchecks={"default": (1, 1)},
    name="segments-quick",
)


# ----------------------------------------------------------------------------- matching


def condition_expr(condition: dict[str, Any], schema: pl.Schema) -> pl.Expr:
    """Rows meeting one condition: tether's (``value``, ``range`` as ``low <= x < high``,
    ``missing``) or the Deepchecks peer's (``range`` with ``closed: right``, ``in``)."""
    column = pl.col(condition["column"])
    kind = condition["kind"]
    if kind == "missing":
        return column.is_null()
    if kind == "value":
        value = condition["value"]
        if schema[condition["column"]].is_numeric():
            return column == float(value)
        return column.cast(pl.String) == value
    if kind == "in":
        inside = column.cast(pl.String).is_in(condition["values"])
        return inside | column.is_null() if condition["missing"] else inside.fill_null(False)
    low, high = condition["low"], condition["high"]
    right = condition.get("closed") == "right"
    inside = column.is_not_null()
    if low is not None:
        inside &= column > low if right else column >= low
    if high is not None:
        inside &= column <= high if right else column < high
    return inside


def masks(frame: pl.DataFrame, segments: list[list[dict[str, Any]]]) -> np.ndarray:
    """``(len(segments), rows)`` booleans: the rows of each segment (conjunction of its
    conditions), in one select."""
    if not segments:
        return np.zeros((0, frame.height), dtype=bool)
    exprs = [
        pl.all_horizontal(condition_expr(c, frame.schema) for c in conditions).alias(str(i))
        for i, conditions in enumerate(segments)
    ]
    return frame.select(exprs).to_numpy().T.astype(bool)


def jaccard(reported: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """``(reported, planted)`` Jaccard indices of row sets (float32 counts are exact below
    2**24 rows)."""
    inter = reported.astype(np.float32) @ planted.astype(np.float32).T
    union = reported.sum(axis=1)[:, None] + planted.sum(axis=1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def planted_conditions(segment: data.Segment) -> list[dict[str, Any]]:
    return [
        {"column": c.column, "kind": c.kind, "value": c.value, "low": c.low, "high": c.high}
        for c in segment.conditions
    ]


@dataclass
class Score:
    """Matches of one method's reported segments against the planted ones, pooled."""

    reported: int = 0
    matched: int = 0
    planted: list[tuple[int, float, bool]] = field(default_factory=list)  # depth, share, found
    trials: int = 0
    unmatched: list[str] = field(default_factory=list)

    def add(
        self,
        frame: pl.DataFrame,
        planted: tuple[data.Segment, ...],
        reported: list[list[dict[str, Any]]],
        words: list[str],
    ) -> None:
        index = jaccard(
            masks(frame, reported), masks(frame, [planted_conditions(s) for s in planted])
        )
        hit = index >= JACCARD
        matched: list[bool] = np.asarray(hit.any(axis=1)).tolist()
        found: list[bool] = np.asarray(hit.any(axis=0)).tolist()
        self.trials += 1
        self.reported += len(reported)
        self.matched += sum(matched)
        self.planted += [
            (len(s.conditions), s.share, f) for s, f in zip(planted, found, strict=True)
        ]
        self.unmatched += [w for w, m in zip(words, matched, strict=True) if not m]

    def precision(self) -> float:
        return self.matched / self.reported if self.reported else math.nan

    def recall(self, depth: int | None = None, small: bool | None = None) -> float:
        chosen = [
            f
            for d, share, f in self.planted
            if (depth is None or d == depth) and (small is None or (share < 0.05) == small)
        ]
        return float(np.mean(chosen)) if chosen else math.nan

    def row(self) -> dict[str, object]:
        return {
            "trials": self.trials,
            "planted": len(self.planted),
            "reported per trial": self.reported / max(self.trials, 1),
            "precision": self.precision() if self.reported else "-",
            "recall": self.recall(),
            "recall 1 condition": self.recall(depth=1),
            "recall 2 conditions": self.recall(depth=2),
            "recall 3 conditions": self.recall(depth=3),
            "recall < 5% of rows": self.recall(small=True),
        }


# ----------------------------------------------------------------------------- tether


def search() -> WeakSegments:
    return WeakSegments(**PARAMS).fit(data.reference(REFERENCE_ROWS).select(data.FEATURES))


def losses(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    loss = error_loss("binary", frame["y"], frame["score"])
    expected, _ = expected_error("binary", frame["score"])
    return loss, expected


def reported(found: pl.DataFrame) -> tuple[list[list[dict[str, Any]]], list[str]]:
    return found["conditions"].to_list(), found["segment"].to_list()


def planted_trial(trial: int, rows: int) -> tuple[tuple[data.Segment, ...], pl.DataFrame]:
    planted = data.plant(data.reference(REFERENCE_ROWS), trial)
    return planted, data.draw(rows, PLANTED_SEED + trial, planted)


def null_trial(trial: int, rows: int) -> pl.DataFrame:
    return data.draw(rows, NULL_SEED + trial)


def bench_planted(weak: WeakSegments, plan: Plan) -> tuple[dict[str, Score], list[float]]:
    scores = {"expected": Score(), "all kinds": Score(), "residual": Score()}
    seconds = []
    for trial in range(plan.planted_trials):
        planted, frame = planted_trial(trial, plan.planted_rows)
        features = frame.select(data.FEATURES)
        loss, expected = losses(frame)
        started = time.perf_counter()
        found = weak.find(features, loss, expected=expected)
        seconds.append(time.perf_counter() - started)
        worse = found.filter(pl.col("kind") == "worse_than_expected")
        scores["expected"].add(frame, planted, *reported(worse))
        scores["all kinds"].add(frame, planted, *reported(found))
        scores["residual"].add(frame, planted, *reported(weak.find(features, loss - expected)))
        print(
            json.dumps(
                {
                    "planted trial": trial,
                    "reported": found.height,
                    "worse_than_expected": worse.height,
                    "find_s": round(seconds[-1], 3),
                }
            ),
            flush=True,
        )
    return scores, seconds


def bench_null(weak: WeakSegments, plan: Plan) -> list[dict[str, object]]:
    rows = []
    for label, (size, trials) in plan.null_sizes.items():
        worse, low_confidence, residual = [], [], []
        for trial in range(trials):
            frame = null_trial(trial, size)
            features = frame.select(data.FEATURES)
            loss, expected = losses(frame)
            found = weak.find(features, loss, expected=expected)
            worse.append(int((found["kind"] == "worse_than_expected").sum()))
            low_confidence.append(int((found["kind"] == "low_confidence").sum()))
            residual.append(weak.find(features, loss - expected).height)
        clean = float(np.mean(np.array(worse) == 0))
        rows.append(
            {
                "rows": size,
                "trials": trials,
                "no segment worse than expected": f"{clean:.0%}",
                "worse_than_expected per trial": float(np.mean(worse)),
                "low_confidence per trial": float(np.mean(low_confidence)),
                "residual search: no segment": f"{np.mean(np.array(residual) == 0):.0%}",
                "verdict": "PASS" if clean >= 0.95 else "FAIL",
            }
        )
        print(json.dumps({"null": label, "clean": clean}), flush=True)
    return rows


def bench_speed(plan: Plan) -> dict[str, object]:
    reference = data.draw(plan.speed_rows, data.REFERENCE_SEED).select(data.FEATURES)
    planted = data.plant(data.reference(REFERENCE_ROWS), 0)
    frame = data.draw(plan.speed_rows, PLANTED_SEED, planted)
    features = frame.select(data.FEATURES)
    fitted = WeakSegments(**PARAMS).fit(reference)
    loss, expected = losses(frame)
    fit_s = best_of(plan.speed_repeats, lambda: WeakSegments(**PARAMS).fit(reference))
    losses_s = best_of(plan.speed_repeats, lambda: losses(frame))
    find_s = best_of(plan.speed_repeats, lambda: fitted.find(features, loss, expected=expected))
    total = fit_s + find_s
    return {
        "rows": plan.speed_rows,
        "columns": features.width,
        "fit (s)": fit_s,
        "error_loss + expected_error (s)": losses_s,
        "find, 3 conditions, expected (s)": find_s,
        "fit + find (s)": total,
        "verdict": "PASS" if total <= 30.0 else "FAIL",
    }


# ----------------------------------------------------------------------------- Deepchecks


def write_frames(plan: Plan) -> tuple[list[Path], list[Path]]:
    """The first planted and null frames as parquet for the peer (features, ``y``, ``score``)."""
    FRAMES.mkdir(parents=True, exist_ok=True)
    most_planted = max(p for p, _ in plan.deepchecks.values())
    most_null = max(n for _, n in plan.deepchecks.values())
    null_rows = next(iter(plan.null_sizes.values()))[0]
    planted_paths, null_paths = [], []
    for trial in range(most_planted):
        path = FRAMES / f"planted-{plan.planted_rows}-{trial}.parquet"
        planted_trial(trial, plan.planted_rows)[1].write_parquet(path)
        planted_paths.append(path)
    for trial in range(most_null):
        path = FRAMES / f"null-{null_rows}-{trial}.parquet"
        null_trial(trial, null_rows).write_parquet(path)
        null_paths.append(path)
    return planted_paths, null_paths


def deepchecks_segments(run: dict[str, Any], flagged: bool) -> list[list[dict[str, Any]]]:
    """The segments one Deepchecks run reports: every one it lists, or (``flagged``) those its
    default condition would warn about, accuracy below 80% of the average
    (``add_condition_segments_relative_performance_greater_than(0.2)``, applied to each)."""
    return [
        [{**c, "closed": "right"} if c["kind"] == "range" else c for c in s["conditions"]]
        for s in run["segments"]
        if not flagged or s["score"] < 0.8 * run["avg_score"]
    ]


def tether_on_peer_frames(plan: Plan, seconds: list[float]) -> list[dict[str, object]]:
    """tether's rows of the Deepchecks table: the same planted and null frames."""
    weak = search()
    n_planted = max(p for p, _ in plan.deepchecks.values())
    n_null = max(n for _, n in plan.deepchecks.values())
    null_rows = next(iter(plan.null_sizes.values()))[0]
    expected_score, residual_score = Score(), Score()
    quiet: dict[str, list[bool]] = {"expected": [], "residual": []}
    for trial in range(n_planted):
        planted, frame = planted_trial(trial, plan.planted_rows)
        loss, expected = losses(frame)
        features = frame.select(data.FEATURES)
        found = weak.find(features, loss, expected=expected)
        worse = found.filter(pl.col("kind") == "worse_than_expected")
        expected_score.add(frame, planted, *reported(worse))
        residual_score.add(frame, planted, *reported(weak.find(features, loss - expected)))
    for trial in range(n_null):
        frame = null_trial(trial, null_rows)
        loss, expected = losses(frame)
        features = frame.select(data.FEATURES)
        found = weak.find(features, loss, expected=expected)
        quiet["expected"].append(not (found["kind"] == "worse_than_expected").any())
        quiet["residual"].append(weak.find(features, loss - expected).height == 0)
    return [
        {
            "tool": label,
            **score.row(),
            "null trials": n_null,
            "null: nothing reported": f"{np.mean(quiet[key]):.0%}",
            "seconds per frame": float(np.mean(seconds[:n_planted])),
        }
        for label, key, score in (
            ("tether, worse_than_expected", "expected", expected_score),
            ("tether, residual search", "residual", residual_score),
        )
    ]


def bench_deepchecks(plan: Plan, seconds: list[float]) -> list[dict[str, object]] | None:
    if peers_mode() == "0" or not plan.deepchecks:
        return None
    planted_paths, null_paths = write_frames(plan)
    rows = tether_on_peer_frames(plan, seconds)
    categorical = ",".join(data.CATEGORICAL)
    for setting, (n_planted, n_null) in plan.deepchecks.items():
        paths = [str(p) for p in planted_paths[:n_planted] + null_paths[:n_null]]
        result = peer(
            f"{plan.name}-deepchecks-{setting}-{n_planted}-{n_null}",
            "segments/peer_deepchecks_segments.py",
            "deepchecks",
            setting,
            categorical,
            *paths,
        )
        if result is None:
            continue
        runs = result["runs"]
        for flagged in (False, True):
            score = Score()
            for trial, run in enumerate(runs[:n_planted]):
                planted, frame = planted_trial(trial, plan.planted_rows)
                segments = deepchecks_segments(run, flagged)
                score.add(frame, planted, segments, [json.dumps(s) for s in segments])
            quiet = [not deepchecks_segments(run, flagged) for run in runs[n_planted:]]
            rule = "below 80% of average accuracy" if flagged else "every segment listed"
            rows.append(
                {
                    "tool": f"Deepchecks {setting}, {rule}",
                    **score.row(),
                    "null trials": n_null,
                    "null: nothing reported": f"{np.mean(quiet):.0%}" if quiet else "-",
                    "seconds per frame": float(np.mean([r["seconds"] for r in runs])),
                }
            )
    return rows


# ----------------------------------------------------------------------------- report


def markdown(rows: list[dict[str, object]]) -> str:
    header = list(rows[0])
    return "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(_cell(row[k]) for k in header) + " |" for row in rows),
        ]
    )


PLANTED_NOTES = """Planted trials: {trials} frames of {rows:,} rows, 6 weak segments each (2 of 1, 2
of 2 and 2 of 3 conditions; 1.25%-8% of the rows, half under 5%; 20-35% of their labels flipped,
so their 0/1 error rises from ~0.19 to 0.3-0.4 while the scores still expect ~0.19). Numeric
planted conditions are one quintile bin of the reference (e.g. ``x >= q80``), so a search over
5 reference-quantile bins can express them exactly. ``WeakSegments({params})`` fitted on a
clean 100k-row reference; loss = ``error_loss`` (0/1 at 0.5), expected = ``expected_error``.
A reported segment matches a planted one at Jaccard >= {jaccard} of their rows. Rows:
*expected* counts only ``worse_than_expected`` segments (the bar); *all kinds* adds the
``low_confidence`` ones; *residual* searches ``loss - expected`` without ``expected`` (the
segment's excess against the rest's excess). Precision and recall are pooled over trials.
Bars: precision >= 0.9 and recall >= 0.9 (expected row)."""


DEEPCHECKS_NOTES = """## Deepchecks WeakSegmentsPerformance

The first planted frames and the first null frames ({null_rows} rows) above, Deepchecks in
benchmarks/.venv-deepchecks ({pins}), given each frame with its label and the model's
predictions and probabilities (no model object, so no feature importance: it ranks the
categorical features first). *default*: its defaults (n_top_features=10,
segment_minimum_size_ratio=0.05, categorical_aggregation_threshold=0.05, n_samples=10,000).
*favourable*: n_top_features=20 (every feature), segment_minimum_size_ratio=0.005 and
categorical_aggregation_threshold=0.005 (segments and categories down to 0.5%); n_samples stays
at 10,000 (a favourable run already takes over 2 minutes a frame). It has no significance test,
so two rules stand for what it reports: every segment its result lists (the weakest leaf of an
error tree per pair of features, where the tree split at all), or only those its default
condition warns about (accuracy below 80% of the average). Null: share of the null frames
where the rule reports nothing. tether's rows are its searches above on the same frames
(seconds: one ``find``).

What it means: Deepchecks searches pairs of features, so no 3-condition segment is within its
reach; by default it searches only its first 10 features (here the categorical ones, with
levels under 5% merged into "Other") and its error trees often do not split at all, in which
case it raises instead of reporting. It compares raw accuracy, not accuracy against what the
scores expect, so what it lists with every feature searched is mostly where a calibrated
model is merely unsure (around the decision boundary), on planted and null data alike."""


def bench_segments(plan: Plan | None = None) -> None:
    plan = plan or Plan()
    started = time.perf_counter()
    weak = search()
    scores, seconds = bench_planted(weak, plan)
    planted_rows = []
    for label, score in scores.items():
        row = {"search": label, **score.row()}
        row["find (s, mean)"] = float(np.mean(seconds)) if label != "residual" else "-"
        passed = score.precision() >= 0.9 and score.recall() >= 0.9
        row["verdict"] = ("PASS" if passed else "FAIL") if label == "expected" else "-"
        planted_rows.append(row)
    null_rows = bench_null(weak, plan)
    speed_row = bench_speed(plan)
    print(json.dumps({"speed": speed_row}), flush=True)
    tether_s = time.perf_counter() - started
    deepchecks_rows = bench_deepchecks(plan, seconds)
    unmatched = scores["expected"].unmatched
    common = pl.Series("segment", unmatched, dtype=pl.String).value_counts(sort=True).head(8)
    examples = "\n".join(f"- {w} ({n} of {plan.planted_trials} trials)" for w, n in common.rows())
    expected, everything, residual = scores["expected"], scores["all kinds"], scores["residual"]
    by_depth = ", ".join(f"{expected.recall(depth=d):.0%} at depth {d}" for d in (1, 2, 3))
    null_clean = ", ".join(
        f"{r['no segment worse than expected']} at {r['rows']:,} rows" for r in null_rows
    )
    total_s = cast(float, speed_row["fit + find (s)"])
    notes = [
        PLANTED_NOTES.format(
            trials=plan.planted_trials,
            rows=plan.planted_rows,
            params=", ".join(f"{k}={v}" for k, v in PARAMS.items()),
            jaccard=JACCARD,
        ),
        f"What it means: {expected.recall():.0%} of the {len(expected.planted)} planted "
        f"segments were reported worse than expected ({by_depth}), and "
        f"{expected.precision():.0%} of the segments reported worse than expected were planted "
        f"ones. Counting the ``low_confidence`` segments as well drops precision to "
        f"{everything.precision():.0%}: they are where the calibrated model is less accurate "
        "because it is less certain, which its scores already say. Searching the residual "
        f"finds {residual.recall():.0%} at precision {residual.precision():.0%}.",
        f"Most frequent unmatched ``worse_than_expected`` segments ({len(unmatched)} in all):"
        f"\n\n{examples or '- none'}",
        "## Null trials\n\nNothing planted: labels ~ Bernoulli(score), so the model is exactly "
        "as good as its scores say everywhere. Bar: >= 95% of trials with no "
        "``worse_than_expected`` segment at alpha = 0.05 (a false discovery rate, so any "
        "discovery on null data is a false alarm).\n\n"
        + markdown(null_rows)
        + f"\n\nWhat it means: trials with no false alarm: {null_clean}. The "
        "``low_confidence`` segments it still reports on null data are true statements (the "
        "model is less accurate where its scores are near 0.5), not alarms.",
        "## Speed\n\nOne ``fit`` on a clean reference and one ``find`` (max_conditions=3, "
        f"expected given) on a planted frame, best of {plan.speed_repeats}, data in memory. "
        "Bar: fit + find <= 30 s at 1M rows x 20 columns.\n\n"
        + markdown([speed_row])
        + f"\n\nWhat it means: one search over {plan.speed_rows:,} rows takes {total_s:.1f} s, "
        f"{30.0 / total_s:.1f}x inside the bar; ``find`` is nearly all of it.",
    ]
    if deepchecks_rows:
        notes.append(
            DEEPCHECKS_NOTES.format(
                null_rows=next(iter(plan.null_sizes)),
                pins=", ".join(ENVIRONMENTS["deepchecks"][1]),
            )
            + "\n\n"
            + markdown(deepchecks_rows)
        )
    notes.append(
        f"Total: tether parts {tether_s:.0f} s, all {time.perf_counter() - started:.0f} s."
    )
    write_table(
        plan.name,
        "Weak-segment discovery: planted weak segments found by tether.performance.segments",
        planted_rows,
        "\n\n".join(notes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few trials of each part")
    args = parser.parse_args()
    bench_segments(QUICK if args.quick else None)


if __name__ == "__main__":
    main()
