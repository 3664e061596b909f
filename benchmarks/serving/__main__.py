"""``python -m benchmarks.serving [--rounds N] [--scale X]``: run the serving benchmark alone."""

from __future__ import annotations

import argparse

from benchmarks.serving.run import ROUNDS, bench_serving

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds over all servers")
parser.add_argument("--scale", type=float, default=1.0, help="multiply every load's duration")
args = parser.parse_args()
bench_serving(rounds=args.rounds, scale=args.scale)
