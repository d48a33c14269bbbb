"""Per sweep point, the selected trials' validation top-1 on one task family, best first: a setting
chosen from it is chosen on validation clips only (the test clips are not read).

    .venv/bin/python benchmarks/validation_by_family.py RESULTS_DIR SWEEP [--family same_different]

Reads ``RESULTS_DIR/models/<SWEEP>.*/runs/*/metrics.json``; prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("sweep")
    parser.add_argument("--family", default="same_different")
    args = parser.parse_args()
    rows = []
    for point in sorted((args.results / "models").glob(f"{args.sweep}.*")):
        runs = [json.loads(path.read_text()) for path in sorted(point.glob("runs/*/metrics.json"))]
        family = [100 * run["val_accuracy_by_family"][args.family] for run in runs]
        overall = [100 * run["val_accuracy"] for run in runs]
        rows.append((statistics.fmean(family), point.name, family, statistics.fmean(overall)))
    print(f"| point | validation {args.family} (%), mean | per run | validation top-1 (%), mean |\n|---|---|---|---|")
    for mean, name, family, overall in sorted(rows, reverse=True):
        print(f"| {name} | {mean:.1f} | {', '.join(f'{v:.1f}' for v in family)} | {overall:.1f} |")


if __name__ == "__main__":
    main()
