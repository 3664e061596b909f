"""The search: every single condition and pair, beam triples, tests and redundancy rules.

Candidates are found and tested on aggregates (``(5, cells)`` sums of
:mod:`~tether.performance.segments.losses`) by cell of combined int16 codes, so memory is
O(cells), not O(rows x candidates); rule (a) too, since the four cells of an interaction are
differences of the child's, its parent's, its extra condition's and all rows' sums. Only the
redundancy rule (b) reads rows, for the few discoveries, each segment's rows built once. A
candidate is an array row of up to three column indices (ascending, padded with
-1) and condition codes. See :class:`~tether.performance.segments.WeakSegments` for the rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tether.performance.segments.conditions import ColumnConditions
from tether.performance.segments.losses import EXPECTED, LOSS, ROWS, RowLosses
from tether.performance.segments.statistics import (
    Estimate,
    contrast,
    excess_z,
    flipped,
    interaction,
    mean_excess,
    mean_loss,
    p_value,
    q_values,
    step_up,
    welch,
)

Key = frozenset[tuple[int, int]]
"""A segment as its set of (column index, condition code)."""


@dataclass(frozen=True)
class Found:
    """The reported segments (columns ``cols``/``conds``/``aggs`` of each) and their tests."""

    cols: np.ndarray
    conds: np.ndarray
    aggs: np.ndarray
    gap: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    z_expected: np.ndarray | None
    p_expected: np.ndarray | None
    q_expected: np.ndarray | None
    worse_than_expected: np.ndarray | None
    total: np.ndarray  # aggregate of all rows


@dataclass(frozen=True)
class Limits:
    """The search parameters of :class:`~tether.performance.segments.WeakSegments`."""

    max_conditions: int
    min_support: float
    min_rows: int
    alpha: float
    min_gap: float
    beam: int


class LatticeSearch:
    """One search of the segments of ``columns`` (their row ``codes``) under ``losses``."""

    def __init__(
        self,
        columns: list[ColumnConditions],
        codes: list[np.ndarray],
        losses: RowLosses,
        limits: Limits,
    ) -> None:
        self.columns, self.codes, self.losses, self.limits = columns, codes, losses, limits
        self.k = np.array([c.n_conditions for c in columns])  # codes that are conditions
        self.width = self.k + 1  # and one for values not searched
        self.min_size = max(limits.min_rows, int(np.ceil(limits.min_support * losses.n)))
        self.single_at = np.r_[0, np.cumsum(self.width)]
        self.singles = np.concatenate(
            [
                losses.aggregate(c.astype(np.intp), w, losses.weights)
                for c, w in zip(codes, self.width, strict=True)
            ],
            axis=1,
        )
        self.total = self.singles[:, : self.width[0]].sum(axis=1)
        self.pair_at = np.zeros((len(columns), len(columns)), dtype=np.intp)
        self.pairs = np.zeros((5, 0))
        self._masks: dict[Key, np.ndarray] = {}

    def eligible(self, aggs: np.ndarray) -> np.ndarray:
        """Which cells are large enough to test, inside and outside."""
        count = aggs[ROWS]
        return (count >= self.min_size) & (self.losses.n - count >= self.limits.min_rows)

    def single(self, col: np.ndarray, cond: np.ndarray) -> np.ndarray:
        return self.singles[:, self.single_at[col] + cond]

    def pair(self, cols: np.ndarray, conds: np.ndarray) -> np.ndarray:
        a, b = cols[:, 0], cols[:, 1]
        return self.pairs[:, self.pair_at[a, b] + conds[:, 0] * self.width[b] + conds[:, 1]]

    def splits(
        self, cols: np.ndarray, conds: np.ndarray, depth: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Aggregates of each parent (one condition dropped) of candidates of ``depth``, with
        those of the condition dropped (the extra condition that makes the child)."""
        out = []
        for drop in range(depth):
            keep = [j for j in range(depth) if j != drop]
            c, k = cols[:, keep], conds[:, keep]
            parent = self.single(c[:, 0], k[:, 0]) if depth == 2 else self.pair(c, k)
            out.append((parent, self.single(cols[:, drop], conds[:, drop])))
        return out

    def _tests(self, aggs: np.ndarray) -> list[tuple[tuple[Estimate, ...], np.ndarray]]:
        """Each way a segment can be weak, as the estimates rule (a) compares and the z of
        ``aggs``: against the rest and, with an expected loss, against its own expectation.

        Against the expectation, more excess alone would split a segment into its surest parts,
        where the same flipped labels cost most: a child must also add loss, or, for a binary
        classifier's errors, have more labels flipped.
        """
        losses = self.losses
        tests: list[tuple[tuple[Estimate, ...], np.ndarray]] = [
            ((mean_loss,), welch(aggs, self.total[:, None] - aggs)[1])
        ]
        if losses.expected:
            excess = mean_excess(losses.shift, losses.empirical)
            rule: tuple[Estimate, ...] = (flipped,) if losses.flips else (excess, mean_loss)
            tests.append((rule, excess_z(aggs, losses.shift, losses.empirical)))
        return tests

    def _split_z(
        self, aggs: np.ndarray, cols: np.ndarray, conds: np.ndarray, estimates: tuple[Estimate, ...]
    ) -> np.ndarray:
        """Rule (a) for candidates of one depth: the smallest z, over each parent and each of
        ``estimates``, of the child being worse than the parent's remainder (the parent minus
        the child) and of the extra condition adding more inside the parent than outside it
        (their interaction contrast); -inf where a test is undefined (a cell under 2 rows)."""
        z = np.full(aggs.shape[1], np.inf)
        for parent, extra in self.splits(cols, conds, cols.shape[1]):
            for estimate in estimates:
                for _, test in (
                    contrast((aggs, parent - aggs), (1.0, -1.0), estimate),
                    interaction(aggs, parent, extra, self.total[:, None], estimate),
                ):
                    z = np.minimum(z, np.where(np.isnan(test), -np.inf, test))
        return z

    def run(self) -> Found:
        """Test every candidate, keep the discoveries that are not redundant: those worse than
        the rest and, with an expected loss, those worse than expected."""
        losses = self.losses
        self.cols, self.conds, self.aggs, self.hypotheses = self.candidates()
        self.depth = (self.cols >= 0).sum(axis=1)
        aggs, m = self.aggs, self.hypotheses
        tests = self._tests(aggs)
        gap, z = welch(aggs, self.total[:, None] - aggs)
        p = p_value(z)
        found = self._report(p, gap, aggs[LOSS] / aggs[ROWS], tests[0][0], self._worse)
        z_expected = p_expected = q_expected = beyond = None
        if losses.expected:
            rule_a, z_expected = tests[1]
            p_expected = p_value(z_expected)
            excess = (aggs[LOSS] + aggs[ROWS] * losses.shift - aggs[EXPECTED]) / aggs[ROWS]
            expected = self._report(p_expected, excess, excess, rule_a, self._worse_than_expected)
            q_expected = q_values(p_expected, m)
            found = np.union1d(self._as_expected(found, expected, q_expected, excess), expected)
            beyond = np.isin(found, expected)
            z_expected, p_expected, q_expected = (
                x[found] for x in (z_expected, p_expected, q_expected)
            )
        return Found(
            self.cols[found],
            self.conds[found],
            aggs[:, found],
            gap[found],
            z[found],
            p[found],
            q_values(p, m)[found],
            z_expected,
            p_expected,
            q_expected,
            beyond,
            self.total,
        )

    def _report(
        self,
        p: np.ndarray,
        effect: np.ndarray,
        order: np.ndarray,
        estimates: tuple[Estimate, ...],
        test: Callable[[np.ndarray, np.ndarray], float],
    ) -> np.ndarray:
        """The candidates reported by one test: ``p`` its p-values, ``effect`` the size that
        ``min_gap`` bounds, ``order`` the mean effect that orders rule (b), ``estimates`` what
        rule (a) compares and ``test`` its form on rows for rule (b)."""
        alpha, m = self.limits.alpha, self.hypotheses
        found = np.flatnonzero((q_values(p, m) <= alpha) & (effect >= self.limits.min_gap))
        found = self._distinct(found)
        # A reported segment must pass BH counting only the reported segments as discoveries:
        # the redundant ones lowered the bar for every candidate. Its p-value is the largest of
        # its own and those of the redundancy tests (an intersection-union test).
        p_found = np.fmax(p[found], self._p_children(found, estimates))
        keep = step_up(p_found, m, alpha)
        found, p_found = found[keep], p_found[keep]
        p_found = self._explained(found, p_found, order[found], test)
        return found[step_up(p_found, m, alpha)]

    def candidates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Columns and codes (padded with -1) and aggregates of every tested candidate, and the
        number of hypotheses BH counts."""
        n_cols = len(self.columns)
        single_cols = np.repeat(np.arange(n_cols), self.k)
        single_conds = np.concatenate([np.arange(k) for k in self.k])
        singles = self.single(single_cols, single_conds)
        tested = self.eligible(singles)
        cols, conds = [single_cols[tested, None]], [single_conds[tested, None]]
        aggs = [singles[:, tested]]
        hypotheses = int(tested.sum())
        if self.limits.max_conditions >= 2 and n_cols >= 2:
            pair_cols, pair_conds = self._pairs()
            cols.append(pair_cols)
            conds.append(pair_conds)
            aggs.append(self.pair(pair_cols, pair_conds))
            hypotheses += len(pair_cols)
            if self.limits.max_conditions == 3 and n_cols >= 3:
                triple_cols, triple_conds, triple_aggs = self._triples(pair_cols, pair_conds)
                cols.append(triple_cols)
                conds.append(triple_conds)
                aggs.append(triple_aggs)
                bound = self._triple_bound(pair_cols, single_cols[tested])
                hypotheses += max(len(triple_cols), bound)

        def pad(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(
                [np.pad(x, ((0, 0), (0, 3 - x.shape[1])), constant_values=-1) for x in parts]
            )

        return pad(cols), pad(conds), np.concatenate(aggs, axis=1), hypotheses

    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Aggregates every pair of columns into ``pairs``; the eligible pairs of conditions."""
        width, k = self.width, self.k
        tables, cols, conds, offset = [], [], [], 0
        for a, b in itertools.combinations(range(len(self.columns)), 2):
            cells = self.codes[a].astype(np.intp) * width[b] + self.codes[b]
            table = self.losses.aggregate(cells, width[a] * width[b], self.losses.weights)
            grid = table.reshape(5, width[a], width[b])[:, : k[a], : k[b]]
            i, j = np.nonzero(self.eligible(grid))
            cols.append(np.column_stack([np.full(len(i), a), np.full(len(i), b)]))
            conds.append(np.column_stack([i, j]))
            tables.append(table)
            self.pair_at[a, b] = offset
            offset += table.shape[1]
        self.pairs = np.concatenate(tables, axis=1)
        return np.concatenate(cols), np.concatenate(conds)

    def _triples(
        self, pair_cols: np.ndarray, pair_conds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The eligible triples that extend the ``beam`` best pairs by one condition.

        Pairs are ranked by the smallest of their z against the rest and of rule (a) (against
        each parent's remainder, and the interaction of their two conditions), so that neither
        the children of one strong single condition nor the crossings of two fill the beam;
        with an expected loss, the ``beam`` best by the same on the excess join them.
        """
        aggs = self.pair(pair_cols, pair_conds)
        beam = np.zeros(0, dtype=np.intp)
        for estimates, z in self._tests(aggs):
            z = np.fmin(z, self._split_z(aggs, pair_cols, pair_conds, estimates))
            ranked = np.argsort(-np.nan_to_num(z, nan=-np.inf), kind="stable")[: self.limits.beam]
            beam = np.union1d(beam, ranked[z[ranked] > 0])
        width = self.width
        cols, conds, out = [], [], []
        for a, b in sorted({(int(x), int(y)) for x, y in pair_cols[beam]}):
            chosen = beam[(pair_cols[beam, 0] == a) & (pair_cols[beam, 1] == b)]
            lookup = np.full(width[a] * width[b], -1, dtype=np.intp)
            lookup[pair_conds[chosen, 0] * width[b] + pair_conds[chosen, 1]] = np.arange(
                len(chosen)
            )
            cell = lookup[self.codes[a].astype(np.intp) * width[b] + self.codes[b]]
            rows = np.flatnonzero(cell >= 0)
            cell = cell[rows]
            weights = {key: values[rows] for key, values in self.losses.weights.items()}
            for c in range(len(self.columns)):
                if c in (a, b):
                    continue
                cells = cell * width[c] + self.codes[c][rows]
                table = self.losses.aggregate(cells, len(chosen) * width[c], weights)
                grid = table.reshape(5, len(chosen), width[c])[:, :, : self.k[c]]
                t, k = np.nonzero(self.eligible(grid))
                these = np.column_stack(
                    [np.full(len(t), a), np.full(len(t), b), np.full(len(t), c)]
                )
                order = np.argsort(these, axis=1)
                cols.append(np.take_along_axis(these, order, axis=1))
                codes = np.column_stack([pair_conds[chosen[t]], k])
                conds.append(np.take_along_axis(codes, order, axis=1))
                out.append(grid[:, t, k])
        if not cols:
            return np.zeros((0, 3), np.intp), np.zeros((0, 3), np.intp), np.zeros((5, 0))
        all_cols, all_conds = np.concatenate(cols), np.concatenate(conds)
        # A triple reached from two of its pairs is one hypothesis.
        _, first = np.unique(np.hstack([all_cols, all_conds]), axis=0, return_index=True)
        first.sort()
        return all_cols[first], all_conds[first], np.concatenate(out, axis=1)[:, first]

    def _triple_bound(self, pair_cols: np.ndarray, single_cols: np.ndarray) -> int:
        """Most triples that could be eligible: per three columns, the eligible cells of any of
        its pairs times the third column's eligible conditions, and at most ``n // min_size``
        (the cells of three columns split the rows)."""
        n_cols = len(self.columns)
        pairs = np.zeros((n_cols, n_cols), dtype=np.int64)
        np.add.at(pairs, (pair_cols[:, 0], pair_cols[:, 1]), 1)
        pairs += pairs.T
        per_column = np.bincount(single_cols, minlength=n_cols)
        cap = self.losses.n // self.min_size
        b, c = np.meshgrid(np.arange(n_cols), np.arange(n_cols), indexing="ij")
        total = 0
        for a in range(n_cols):
            bound = np.minimum.reduce(
                [
                    pairs[a, b] * per_column[c],
                    pairs[a, c] * per_column[b],
                    pairs[b, c] * per_column[a],
                    np.full(b.shape, cap),
                ]
            )
            total += int(bound[(a < b) & (b < c)].sum())
        return total

    def _distinct(self, found: np.ndarray) -> np.ndarray:
        """Rule (c): one segment per set of rows, the one with the fewest conditions."""
        found = found[np.argsort(self.depth[found], kind="stable")]
        # Equal rows give bit-equal sums (bincount adds them in row order), so only segments
        # of equal size and loss can be duplicates; their rows are compared to be sure.
        _, group, counts = np.unique(
            self.aggs[:, found][[ROWS, LOSS]], axis=1, return_inverse=True, return_counts=True
        )
        keep = np.ones(len(found), dtype=bool)
        for shared in np.flatnonzero(counts > 1):
            members = np.flatnonzero(group.ravel() == shared)
            masks = [self.rows(self._key(found[m])) for m in members]
            for j in range(1, len(masks)):
                if any(np.array_equal(masks[j], masks[h]) for h in range(j)):
                    keep[members[j]] = False
        return found[keep]

    def _key(self, index: int) -> Key:
        cols, conds = self.cols[index].tolist(), self.conds[index].tolist()
        return frozenset((c, k) for c, k in zip(cols, conds, strict=True) if c >= 0)

    def rows(self, key: Key) -> np.ndarray:
        """The rows of a segment, built once from the rows of its conditions (the redundancy
        rules ask for the same few segments many times)."""
        mask = self._masks.get(key)
        if mask is None:
            if len(key) == 1:
                ((c, k),) = key
                mask = self.codes[c] == k
            else:
                mask = np.logical_and.reduce([self.rows(frozenset([part])) for part in key])
            self._masks[key] = mask
        return mask

    def _p_children(self, found: np.ndarray, estimates: tuple[Estimate, ...]) -> np.ndarray:
        """Rule (a): p-value of each segment being worse (by ``estimates``) than every
        parent's remainder and of its extra condition adding more inside each parent than
        outside it, 0 for single conditions."""
        p_child = np.zeros(len(found))
        for d in (2, 3):
            at = np.flatnonzero(self.depth[found] == d)
            if len(at) == 0:
                continue
            idx = found[at]
            cols, conds = self.cols[idx, :d], self.conds[idx, :d]
            p_child[at] = p_value(self._split_z(self.aggs[:, idx], cols, conds, estimates))
        return p_child

    def _explained(
        self,
        found: np.ndarray,
        p: np.ndarray,
        order: np.ndarray,
        test: Callable[[np.ndarray, np.ndarray], float],
    ) -> np.ndarray:
        """Rule (b): each segment's p-value, raised to that of ``test`` on its rows away from
        the extra conditions (those it lacks) of the other segments kept.

        Segments are taken by ``order`` (their mean effect), largest first, so a child comes
        before its parents (rule (a) made it worse than them), and each is kept if it passes,
        away from those kept before it, the BH bar of the segments that pass before this rule;
        then each kept one is tested again away from all others kept, once. A parent weak only
        through a kept child, or a segment weak only where it overlaps kept ones (e.g. the
        same segment on a correlated column), then compares equal; one weak by itself stays
        worse even when other columns are weak too, since the rows left out leave both sides.
        """
        passing = step_up(p, self.hypotheses, self.limits.alpha)
        if not passing.any():
            return p
        bar = self.limits.alpha * passing.sum() / self.hypotheses
        keys = [self._key(i) for i in found]
        rows = self.rows
        # How many kept segments hold each row: a kept segment sharing no condition with the
        # one tested leaves out its own rows, read from here instead of rebuilt each time.
        covered = np.zeros(self.losses.n, dtype=np.int16)

        def retest(i: int, kept: list[int]) -> None:
            away = self._away(keys[i], [keys[j] for j in kept], covered)
            if not away.all():
                out[i] = max(out[i], test(rows(keys[i]), away))

        out, kept = p.copy(), list[int]()
        for i in np.argsort(-order, kind="stable"):
            if passing[i]:
                retest(i, kept)
                if out[i] <= bar:
                    kept.append(i)
                    covered += rows(keys[i])
        for i in list(kept):
            retest(i, kept)
            if out[i] > bar:
                kept.remove(i)
                covered -= rows(keys[i])
        return out

    def _away(self, key: Key, kept: list[Key], covered: np.ndarray) -> np.ndarray:
        """The rows away from the ``kept`` segments (``covered`` counts those holding each
        row) for testing the segment ``key``: out of their rows, except that an ancestor of
        it (or itself) leaves nothing out and one sharing a condition with it leaves out the
        rows of its extra conditions (those ``key`` lacks)."""
        blocked, extras = covered, []
        for other in kept:
            if other <= key:
                blocked = blocked - self.rows(other)
            elif other & key:
                extras.append(self.rows(other - key))
        away = blocked == 0
        for extra in extras:
            away &= ~extra
        return away

    def _as_expected(
        self, found: np.ndarray, expected: np.ndarray, q_expected: np.ndarray, excess: np.ndarray
    ) -> np.ndarray:
        """Those of ``found`` (worse than the rest) that are either reported as worse than
        expected (in ``expected``) or whose loss is what the scores expect (low confidence):
        their own excess is not significant, or not away from the segments reported worse
        than expected (at ``alpha``). The others' excess is not explained by the scores nor
        by a segment reported (a part of one, say): they are neither, and are dropped."""
        limits = self.limits
        reported = [self._key(i) for i in expected]
        covered = np.zeros(self.losses.n, dtype=np.int16)
        for key in reported:
            covered += self.rows(key)
        keep = np.ones(len(found), dtype=bool)
        for at, i in enumerate(found):
            if i in expected or q_expected[i] > limits.alpha or excess[i] < limits.min_gap:
                continue
            key = self._key(i)
            away = self._away(key, reported, covered)
            keep[at] = self._worse_than_expected(self.rows(key), away) > limits.alpha
        return found[keep]

    def _worse(self, inside: np.ndarray, away: np.ndarray) -> float:
        """p-value of ``inside`` rows having a higher mean loss than the others, both ``away``
        (1 where the gap is below ``min_gap``)."""
        segment = self.losses.total(inside & away)
        gap, z = welch(segment[:, None], (self.losses.total(away) - segment)[:, None])
        return float(p_value(z)[0]) if gap[0] >= self.limits.min_gap else 1.0

    def _worse_than_expected(self, inside: np.ndarray, away: np.ndarray) -> float:
        """p-value of ``inside`` rows ``away`` having a higher loss than expected (1 where the
        mean excess is below ``min_gap``)."""
        losses = self.losses
        sums = losses.total(inside & away)
        if sums[ROWS] < 2:
            return 1.0
        excess = (sums[LOSS] + sums[ROWS] * losses.shift - sums[EXPECTED]) / sums[ROWS]
        z = excess_z(sums[:, None], losses.shift, losses.empirical)
        return float(p_value(z)[0]) if excess >= self.limits.min_gap else 1.0
