"""``results/models/<model>/runs/<run>/metrics.json``: everything one training run measured.

Written by a training job (a failed run writes ``status: failed``, its error and log instead),
read by the per-model summary and the report. This module is the only one that writes or reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echoes.files import read_json, write_json

METRICS_FORMAT = 2

REQUIRED_FIELDS = (
    "model",
    "class",
    "fit_method",
    "split",
    "seed",
    "device",
    "accuracy_top1",
    "accuracy_top5",
    "train_time_s",
    "time_per_epoch_s",
    "time_to_convergence_s",
    "convergence_epoch",
    "inference_time_per_batch_s",
    "inference_batch_size",
    "peak_rss_mib",
    "trainable_params",
    "total_params",
    "train_clips",
    "test_clips",
    "val_groups",
    "accuracy_by_group",
    "normalisation",
    "tuning",
    "history",
    "features",
)
FAILED_FIELDS = ("model", "class", "split", "seed", "error", "log")


class MetricsFileError(ValueError):
    """A metrics file that cannot be used; the message names the file and the field."""


def write_metrics(path: Path, metrics: Mapping[str, Any]) -> dict:
    """Atomically, with the format stamped in; returns what was written."""
    stamped = {**metrics, "format": METRICS_FORMAT}
    write_json(path, stamped)
    return stamped


def read_metrics(path: Path) -> dict:
    """One run's metrics, checked for the fields a finished (or failed) run has."""
    try:
        metrics = read_json(path)
    except (OSError, ValueError) as error:
        raise MetricsFileError(f"{path}: cannot read metrics ({error})") from error
    if metrics.get("format") != METRICS_FORMAT:
        raise MetricsFileError(
            f"{path}: metrics format {metrics.get('format')!r}, expected {METRICS_FORMAT}; rerun its training job"
        )
    required = FAILED_FIELDS if failed(metrics) else REQUIRED_FIELDS
    missing = [f for f in required if f not in metrics]
    if missing:
        raise MetricsFileError(f"{path}: missing field(s) {', '.join(missing)}")
    return metrics


def failed(run: Mapping[str, Any]) -> bool:
    return run.get("status") == "failed"
