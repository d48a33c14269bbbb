"""``results/models/<model>/runs/<run>/metrics.json``: everything one training run measured.

Written by a training job (a failed run writes ``status: failed``, its error and log instead),
read by the per-model summary and the report. This module is the only one that writes or reads it,
and :class:`RunMetrics` is the one definition of its keys: each field says what it is and where it
goes, and everything else is derived from it:

- the trainer builds the record by constructing a :class:`RunMetrics` (a missing or unknown key
  is an error there, not a silent gap in the report);
- MLflow logs the fields marked ``mlflow`` as the run's metrics (:func:`mlflow_metrics`);
- the per-model summary and the report's table average the fields marked ``summarised``
  (:data:`SUMMARISED`), and the table shows every field that names a ``column``;
- reading a file checks the fields without a default (:data:`REQUIRED_FIELDS`).

A metric computed from other fields (``derive``) is added by adding its field here and nothing
else: it is filled in when the record is built, logged, summarised and shown like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echoes.files import read_json, write_json

METRICS_FORMAT = 5
FAILED_FIELDS = ("model", "class", "split", "seed", "error", "log")


class MetricsFileError(ValueError):
    """A metrics file that cannot be used; the message names the file and the field."""


def info(doc: str, *, key: str | None = None, default: Any = dataclasses.MISSING) -> Any:
    """A field that describes the run (what, where, with which settings): never averaged or plotted."""
    return field(default=default, metadata={"doc": doc, "key": key})


def measured(
    doc: str,
    *,
    mlflow: bool = True,
    summarised: bool = True,
    optional: bool = False,
    derive: Callable[[Mapping[str, Any]], Any] | None = None,
) -> Any:
    """A measured number (the report decides how to show it); ``derive`` computes it from the other fields
    when the record is built; ``optional`` ones may be None."""
    metadata = {"doc": doc, "mlflow": mlflow, "summarised": summarised}
    if derive is not None:
        return field(default=None, init=False, metadata={**metadata, "derive": derive})
    return field(default=None if optional else dataclasses.MISSING, metadata=metadata)


@dataclass(kw_only=True)
class RunMetrics:
    """One finished run's ``metrics.json``: one field per key, in the order written."""

    status: str = info("ok (failed runs write FAILED_FIELDS instead)", default="ok")
    model: str = info("the model's name in config.yaml")
    model_class: str = info("its class: a built-in name or an import path", key="class")
    kind: str = info("the model's kind (its class's `kind`): LSTM, ESN, NG-RC, control (older files: `family`)")
    params: dict = info("the selected candidate's constructor arguments")
    fit_method: str = info("gradient or closed_form")
    split: int = info("official split")
    seed: int = info("seed of the run (weights, reservoir, validation groups)")
    device: str = info("cpu or cuda")
    threads: int = info("PyTorch's intra-op threads")
    accuracy_top1: float = measured("test top-1 accuracy of the selected candidate")
    accuracy_top5: float = measured("test top-5 accuracy")
    accuracy_by_group: dict = info("test top-1 per test group (gNN)")
    accuracy_by_family: dict = info("test top-1 per task family of the synthetic set ({} for other data)")
    read_as_other_family: dict | None = info(
        "per task family, the fraction of its test clips predicted as another family's class", default=None
    )
    accuracy_reversed: float = measured("test top-1 with every clip's frames in reverse order")
    accuracy_shuffled: float = measured("test top-1 with every clip's frames shuffled (one seeded permutation each)")
    order_drop_reversed: float = measured(
        "what reversing the frames costs: accuracy_top1 - accuracy_reversed",
        derive=lambda r: r["accuracy_top1"] - r["accuracy_reversed"],
    )
    order_drop_shuffled: float = measured(
        "what shuffling the frames costs: accuracy_top1 - accuracy_shuffled",
        derive=lambda r: r["accuracy_top1"] - r["accuracy_shuffled"],
    )
    val_accuracy: float = measured("validation top-1 of the selected candidate", mlflow=False)
    val_accuracy_by_family: dict = info("the selected trial's validation top-1 per task family")
    train_time_s: float = measured("seconds of the selected candidate's fit")
    epochs: int = measured("epochs run (closed form: 1)")
    time_per_epoch_s: float = measured("train_time_s / epochs")
    time_to_convergence_s: float = measured("seconds up to the convergence epoch")
    convergence_epoch: int = measured("first epoch within the tolerance of the best validation accuracy")
    best_epoch: int = measured("the epoch whose weights were kept", summarised=False)
    inference_time_per_batch_s: float = measured("median seconds to classify one batch")
    inference_batch_size: int = info("clips in that batch")
    peak_rss_mib: float = measured("the process's whole peak resident memory")
    training_peak_mib: float = measured("the fit's own peak resident memory above the process's start")
    peak_gpu_mib: float | None = measured("peak CUDA memory (GPU runs)", optional=True)
    trainable_params: int = measured("parameters learned from data")
    total_params: int = measured("every parameter and frozen buffer")
    train_clips: int = info("fit clips (training minus validation)")
    val_clips: int = info("validation clips")
    val_groups: list = info("validation groups (gNN)")
    test_clips: int = info("test clips")
    test_clips_by_family: dict | None = info(
        "test clips per task family: one clip is 100 / n points of that family's accuracy ({} without families)",
        default=None,
    )
    unseen_test_classes: dict | None = info(
        "test clips per class that no training clip of the split has: they can never be right (on_unseen_test_class)",
        default=None,
    )
    normalisation: str = info("input normalisation of the selected candidate")
    layers: list | None = info(
        "ESNs: per reservoir, test top-1 of a readout on its states alone (accuracy) and on layers 1..l "
        "(accuracy_up_to), effective_spectral_radius and memory_capacity (echoes.training.layers)",
        default=None,
    )
    tuning: dict = info(
        "sampler, space, trials the headline chose from (candidates), every trial (params, validation scores, "
        "seconds), the one selected, time, and within_seconds (the tuning.seconds view)"
    )
    machine: dict = info("the load around the timed fit (echoes.devices.MachineState)")
    classes: list = info("class names in label order")
    confusion: list = info("test confusion counts, rows true, columns predicted")
    history: list = info("per epoch: loss, accuracies, validation loss, seconds, timestamp")
    fit_info: dict = info("the closed-form fit's ridge, GCV scores, harvest and solve seconds")
    training: dict = info("the training settings in force")
    features: dict = info("features.h5's attributes: dataset, backbone, weights, T, frame size, ...")
    versions: dict = info("torch and numpy versions")
    started_ms: int | None = info("when the job started, ms since the epoch: the MLflow run's start", default=None)
    ended_ms: int | None = info("when it had measured everything, ms since the epoch: the run's end", default=None)

    def __post_init__(self) -> None:
        values = self.record(derived=False)
        for f in dataclasses.fields(self):
            if "derive" in f.metadata:
                setattr(self, f.name, f.metadata["derive"](values))

    def record(self, derived: bool = True) -> dict[str, Any]:
        """The JSON object, keyed as the file spells it (``class``, not ``model_class``)."""
        return {
            f.metadata.get("key") or f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if derived or "derive" not in f.metadata
        }


def _fields(role: str) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(RunMetrics) if f.metadata.get(role))


REQUIRED_FIELDS = tuple(
    f.metadata.get("key") or f.name
    for f in dataclasses.fields(RunMetrics)
    if f.default is dataclasses.MISSING and f.init
)
SUMMARISED = tuple(f.name for f in _fields("summarised"))


def mlflow_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """The record's MLflow metrics: the fields marked ``mlflow`` that hold a value, plus the
    selected candidate's validation accuracy as ``val_accuracy_selected`` (``val_accuracy`` is
    the per-epoch series there)."""
    logged = {f.name: record[f.name] for f in _fields("mlflow") if record.get(f.name) is not None}
    return logged | {"val_accuracy_selected": record["val_accuracy"]}


def failed_record(
    model: str,
    model_class: str,
    params: Mapping[str, Any],
    split: int,
    seed: int,
    error: BaseException,
    log: str | None,
) -> dict:
    """The metrics file of a run that failed: what failed, why, and where the full log is."""
    return {
        "status": "failed",
        "model": model,
        "class": model_class,
        "params": dict(params),
        "split": split,
        "seed": seed,
        "error": f"{type(error).__name__}: {error}",
        "log": log,
        "history": [],
    }


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
    if "family" in metrics and "kind" not in metrics:  # written before the model's kind had its own word
        metrics["kind"] = metrics.pop("family")
    required = FAILED_FIELDS if failed(metrics) else REQUIRED_FIELDS
    missing = [f for f in required if f not in metrics]
    if missing:
        raise MetricsFileError(f"{path}: missing field(s) {', '.join(missing)}")
    return metrics


def failed(run: Mapping[str, Any]) -> bool:
    return run.get("status") == "failed"
