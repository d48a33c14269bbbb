"""What a model's tuning searches: a grid (``tune:``) or a space (``search:``), and the budget.

A model entry gives either

- ``tune: {key: [values]}``, a grid: every combination is one trial (Optuna's ``GridSampler``
  visits them in a seeded order), or
- ``search: {key: range or [choices]}``, a space sampled by TPE (or at random) for
  ``tuning.trials`` trials. A range is ``{low, high}`` with optional ``log: true`` (sampled
  uniformly in log scale: learning rates, scalings) and ``step``; its ``type`` (``int`` or
  ``float``) is filled in from the model's schema when the config is read (:func:`resolve_types`).

Keys are the model's constructor arguments or ``training`` settings, as in a grid. This module
has neither PyTorch nor Optuna: the workflow checks spaces with it while it builds the DAG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Space = Mapping[str, Any]  # key -> [choices] or {low, high, log, step, type}


@dataclass(frozen=True)
class TuningBudget:
    """``tuning:`` in config.yaml (the schema says what each key means)."""

    trials: int = 4
    seconds: float | None = None
    sampler: str = "tpe"
    pruning: bool = False
    max_trials: int = 1000
    storage: str | None = None  # where studies are kept (echoes.training.studies); None: in memory
    workers: int = 1  # processes (Snakemake jobs) that run one study's trials together

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> TuningBudget:
        return cls(**(values or {}))


def is_range(values: Any) -> bool:
    """A ``{low, high, ...}`` range, as opposed to a list of choices."""
    return isinstance(values, Mapping)


def resolve_types(space: Space, integer: Callable[[str], bool | None]) -> dict[str, Any]:
    """``space`` with each range's ``type`` set: ``integer(key)`` (from the schema: True, False, or
    None if it does not know the key), else ``int`` when both bounds are integers."""
    resolved: dict[str, Any] = {}
    for key, values in space.items():
        if not is_range(values) or "type" in values:
            resolved[key] = values
            continue
        known = integer(key)
        whole = all(isinstance(values[b], int) and not isinstance(values[b], bool) for b in ("low", "high"))
        resolved[key] = {**values, "type": "int" if (known if known is not None else whole) else "float"}
    return resolved


def space_size(space: Space) -> int | None:
    """How many distinct points a space has: the product of its choices; None with any range."""
    if any(is_range(values) for values in space.values()):
        return None
    return math.prod(len(values) for values in space.values())


def check_space(space: Space, key: str) -> None:
    """Ranges with ``low < high`` (``low > 0`` in log scale); choices non-empty. Errors name the key."""
    for name, values in space.items():
        where = f"{key}.{name}"
        if not is_range(values):
            if not isinstance(values, Sequence) or isinstance(values, str) or not values:
                raise ValueError(f"{where}: give a range {{low: ..., high: ...}} or a non-empty list of choices")
            continue
        low, high = values["low"], values["high"]
        if not low < high:
            raise ValueError(f"{where}: low ({low}) must be below high ({high})")
        if values.get("log") and low <= 0:
            raise ValueError(f"{where}: a log-scale range needs low > 0, got {low}")
        if values.get("log") and values.get("step"):
            raise ValueError(f"{where}: a range is either log-scale or stepped, not both")


def probes(space: Space) -> list[dict[str, Any]]:
    """Points that between them set every key to each end of its range and to each of its choices
    (the rest at their first value): checking these checks the whole space's values against the schema."""
    first = {k: (v["low"] if is_range(v) else v[0]) for k, v in space.items()}
    points = [first]
    for key, values in space.items():
        for value in [values["high"]] if is_range(values) else values[1:]:
            points.append({**first, key: int(value) if is_range(values) and values["type"] == "int" else value})
    return points


def describe(space: Space) -> str:
    """One line per the report: ``leak_rate 0.05–1 (log) × normalisation {global, clip_mean}``."""
    parts = []
    for key, values in space.items():
        if is_range(values):
            scale = " (log)" if values.get("log") else ""
            parts.append(f"{key} {values['low']:g}–{values['high']:g}{scale}")
        else:
            parts.append(f"{key} {{{', '.join(map(str, values))}}}")
    return " × ".join(parts)
