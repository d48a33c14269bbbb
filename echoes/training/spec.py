"""What one training run is: the model, its settings, the split and seed, and where it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from echoes.training.space import TuningBudget


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of the gradient loop and of the measurements (``training:`` in config.yaml; the
    schema, ``workflow/schemas/config.schema.yaml``, says what each one means)."""

    max_epochs: int = 100
    batch_size: int = 32
    harvest_batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 8
    min_delta: float = 1e-3
    val_fraction: float = 0.2
    min_val_groups: int = 2
    normalisation: str = "global"
    grad_clip: float = 1.0
    convergence_tolerance: float = 0.005
    inference_repeats: int = 10
    refit: bool = False
    on_failure: str = "report"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingConfig:
        """The ``training:`` section as validated; a key this class does not know is an error, never dropped."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"training.{unknown[0]}: not a training setting ({', '.join(names)})")
        return cls(**values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainingConfig:
        return replace(self, **overrides) if overrides else self


def check_tune_or_search(key: str, entry: Mapping[str, Any]) -> None:
    """A model entry gives a ``tune`` grid or a ``search`` space, not both: which one counts would be a guess."""
    if entry.get("tune") and entry.get("search"):
        raise ValueError(f"{key}: give a tune grid or a search space, not both")


@dataclass(frozen=True)
class RunSpec:
    """One training run, as the workflow asks for it: everything that decides its result.

    ``params`` are the model's constructor arguments from config; ``tune`` its grid
    (``{key: [values]}``) or ``search`` its space (:mod:`echoes.training.space`), keys being
    constructor arguments or training settings; ``budget`` is ``tuning:``.
    """

    name: str
    model_class: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tune: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    search: Mapping[str, Any] = field(default_factory=dict)
    budget: TuningBudget = field(default_factory=TuningBudget)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    split: int = 1
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    @classmethod
    def from_config(
        cls,
        name: str,
        entry: Mapping[str, Any],
        training: Mapping[str, Any],
        tuning: Mapping[str, Any] | None = None,
        **run: Any,
    ) -> RunSpec:
        """From a ``models:`` entry (``class``, ``params``, ``tune`` or ``search``, its own ``tuning``),
        the ``training:`` and ``tuning:`` sections (the entry's ``tuning`` over the section's)."""
        check_tune_or_search(f"models.{name}", entry)
        return cls(
            name=name,
            model_class=entry["class"],
            params=dict(entry.get("params") or {}),
            tune=dict(entry.get("tune") or {}),
            search=dict(entry.get("search") or {}),
            budget=TuningBudget.from_mapping({**(tuning or {}), **(entry.get("tuning") or {})}),
            training=TrainingConfig.from_mapping(training),
            **run,
        )
