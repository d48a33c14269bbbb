"""The nested parts of a run's ``metrics.json`` and the attributes of ``features.h5``, typed.

:class:`~echoes.contracts.metrics.RunMetrics` types a run's top level; these type what it nests:
one epoch of a fit (``history``), one tuning trial (``tuning.trials``), one reservoir layer's
diagnostics (``layers``) and how the features were made (``features``, ``features.h5``'s
attributes). Each is written with ``record()`` and read with ``read()``, which takes files written
before a field existed (its default) so that old results still render.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _known(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Epoch:
    """One epoch of a fit: a gradient epoch (with validation, except in the refit) or the one pass of a
    closed-form fit. ``timestamp`` is the wall clock (ms) at its end: MLflow's time axis."""

    epoch: int
    train_accuracy: float
    seconds: float
    timestamp: int
    loss: float | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None

    def record(self) -> dict[str, Any]:
        return _without_none(dataclasses.asdict(self))

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> Epoch:
        return cls(**_known(cls, values))

    def metrics(self) -> dict[str, float]:
        """What MLflow plots per epoch: every measured value (not the epoch or its timestamp)."""
        return {k: v for k, v in self.record().items() if k not in ("epoch", "timestamp")}


@dataclass(frozen=True)
class TrialRecord:
    """One tuning trial as ``metrics.json`` keeps it: its settings, state and validation scores;
    ``seconds`` is the whole trial, ``fit_seconds`` the fit alone."""

    number: int
    params: dict[str, Any]
    state: str
    val_accuracy: float
    val_loss: float
    seconds: float
    fit_seconds: float | None = None

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> TrialRecord:
        return cls(**_known(cls, values))


@dataclass(frozen=True)
class LayerRecord:
    """One reservoir layer of a selected model (:mod:`echoes.training.layers`): test top-1 of a readout on
    its states alone and on layers 1..l, and the model's own per-layer diagnostics (``layer_probes``:
    effective spectral radius, memory capacity), None where one could not be computed (``unavailable``
    says why)."""

    layer: int
    accuracy: float
    accuracy_up_to: float
    diagnostics: dict[str, float | None] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """Flat, as the file has it: the diagnostics beside the accuracies."""
        flat = {"layer": self.layer, "accuracy": self.accuracy, "accuracy_up_to": self.accuracy_up_to}
        return flat | self.diagnostics | ({"unavailable": self.unavailable} if self.unavailable else {})

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> LayerRecord:
        own = ("layer", "accuracy", "accuracy_up_to", "unavailable")
        return cls(
            layer=values["layer"],
            accuracy=values["accuracy"],
            accuracy_up_to=values["accuracy_up_to"],
            diagnostics={k: v for k, v in values.items() if k not in own},
            unavailable=dict(values.get("unavailable", {})),
        )

    def diagnostic(self, name: str) -> float | None:
        return self.diagnostics.get(name)


@dataclass(frozen=True)
class FeatureAttrs:
    """How ``features.h5`` was made (its attributes; a run's ``features``): the data, the CNN and its
    weights, the frames, and the clips the file could not hold. ``weights`` identifies the weights
    (``echoes predict`` rebuilds and checks the CNN from ``weights_source`` and ``weights_seed``);
    training adds how many partial clips it left out, and by which policy."""

    dataset: str
    weights: str
    frames_per_clip: int
    backbone: str | None = None
    layer: str | None = None
    frame_size: int | str | None = None
    precision: str | None = None
    echoes_version: str | None = None
    weights_source: str | None = None
    weights_seed: int | None = None
    storage_dtype: str | None = None
    device: str | None = None
    batch_size: int | None = None
    torch_version: str | None = None
    missing_videos: int = 0
    unlisted_files: int = 0
    skipped_clips: int = 0
    partial_clips: int = 0
    partial_clips_left_out: int | None = None
    on_partial_video: str | None = None

    def record(self) -> dict[str, Any]:
        return _without_none(dataclasses.asdict(self))

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> FeatureAttrs:
        """From a file's attributes or a run's ``features`` (NumPy scalars as Python values); keys this
        version does not know (e.g. the file's ``format``) are left out."""
        plain = {k: v.item() if hasattr(v, "item") else v for k, v in values.items()}
        return cls(**_known(cls, plain))

    @property
    def pretrained(self) -> bool:
        return not str(self.weights).startswith("random")
