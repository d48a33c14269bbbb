"""Statistics over runs: summaries, paired intervals and winners. Numbers in, numbers out.

Runs of one model over several seeds/splits are summarised as mean ± sample std (n shown).
Uncertainty is stated, not hidden:

- the difference in top-1 accuracy to the reference model (SimpleRNN) is paired by (split, seed)
  and given with a 95 % Student-t interval over those pairs (n - 1 degrees of freedom);
- the best row is a winner only when no other row's 95 % t-interval of the mean overlaps its
  own; rows within that noise are ties, never a win.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from echoes.contracts.metrics import SUMMARISED, failed, read_metrics
from echoes.files import write_json

CONFIDENCE = 0.95
REFERENCE_MODEL = "SimpleRNN"
Runs = Sequence[Mapping[str, Any]]


def is_control(run: Mapping[str, Any]) -> bool:
    """A control row (no recurrence), by the model's own ``kind``."""
    return run.get("kind") == "control"


def reference_name(by_model: Mapping[str, Runs]) -> str | None:
    """The entry every difference is taken against: the first whose runs are of class ``REFERENCE_MODEL``,
    whatever the entry is called in config.yaml (``lstm: {class: SimpleRNN}`` counts)."""
    return next((name for name, runs in by_model.items() if runs and runs[0].get("class") == REFERENCE_MODEL), None)


def finished(runs: Runs) -> list[Mapping[str, Any]]:
    """The runs that produced results; failed ones are shown apart, never averaged in."""
    return [r for r in runs if not failed(r)]


def summarise(runs: Runs) -> dict:
    """Mean and sample standard deviation (0 for one run) of each summarised metric over ``runs``."""
    summary: dict[str, Any] = {"n": len(runs), "mean": {}, "std": {}}
    for key in SUMMARISED:
        values = [float(r[key]) for r in runs if r.get(key) is not None]
        if values:
            summary["mean"][key] = statistics.fmean(values)
            summary["std"][key] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean of ``values``; None for fewer than two (no spread to judge by)."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    mean = statistics.fmean(values)
    half = t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


def paired_differences(
    runs: Runs, reference: Runs, accuracy: Callable[[Mapping[str, Any]], float | None] = itemgetter("accuracy_top1")
) -> list[float]:
    """``accuracy`` (default: test top-1) of ``runs`` minus the reference's, for each (split, seed) both have."""
    by_run = {(r["split"], r["seed"]): accuracy(r) for r in reference}
    pairs = [(accuracy(r), by_run.get((r["split"], r["seed"]))) for r in runs]
    return [mine - theirs for mine, theirs in pairs if mine is not None and theirs is not None]


def winners(intervals: Mapping[str, tuple[float, float] | None], means: Mapping[str, float]) -> tuple[str | None, set]:
    """(the clear winner or None, the rows tied with the best within their 95 % intervals)."""
    if not means:
        return None, set()
    best = max(means, key=means.get)
    if intervals.get(best) is None:
        return None, set()
    low, high = intervals[best]
    tied = {
        name
        for name, interval in intervals.items()
        if name != best and interval is not None and interval[1] >= low and interval[0] <= high
    }
    return (None, tied | {best}) if tied else (best, set())


def mean_and_spread(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Per epoch, the mean and std over the curves that reach it (early stopping ends them at different epochs)."""
    length = max(len(c) for c in curves)
    means, stds = [], []
    for epoch in range(length):
        values = [c[epoch] for c in curves if len(c) > epoch]
        means.append(statistics.fmean(values))
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return means, stds


def mean_confusion(runs: Runs) -> list[list[float]]:
    """Confusion counts (rows true, columns predicted) averaged over a model's runs."""
    matrices = [r["confusion"] for r in runs if r.get("confusion")]
    size = len(matrices[0]) if matrices else 0
    return [[statistics.fmean(m[i][j] for m in matrices) for j in range(size)] for i in range(size)]


def aggregate_model(run_paths: Sequence[Path], out: Path) -> dict:
    """Stage entry point: ``results/models/<name>/metrics.json`` summarising that model's runs."""
    runs = [read_metrics(Path(p)) for p in run_paths]
    summary = summarise(finished(runs)) | {
        "model": runs[0]["model"],
        "class": runs[0]["class"],
        "params": runs[0].get("params", {}),
        "failed": sum(failed(r) for r in runs),
        "runs": [
            {"split": r["split"], "seed": r["seed"], "status": r.get("status", "ok"), "path": str(p)}
            for r, p in zip(runs, run_paths, strict=True)
        ],
    }
    write_json(out, summary)
    return summary
