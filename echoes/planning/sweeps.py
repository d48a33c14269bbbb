"""Sweeps: a grid over one model entry's params, each point an ordinary training job.

``sweeps:`` in config.yaml names, per sweep, the model entry to vary and a grid
(``{param: [values]}``); every combination is a point, named ``<sweep>.<param>-<value>...`` (e.g.
``depth.num_reservoirs-2.reservoir_size-250``), trained per split and seed like a model of
``models:``, with the entry's ``tune`` grid or its ``search`` space less the keys the sweep fixes,
and summarised in ``results/sweeps/<sweep>.md``. A point gets the headline's trials only, never
``tuning.seconds``: the equal-time view of every point would multiply the sweep's cost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from echoes.training.protocol import candidates

VALUE = re.compile(r"^[A-Za-z0-9_.+-]+$")


class SweepError(ValueError):
    """A sweep that cannot be expanded; the message names the config key."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the model entry it varies, the values it sets, the resulting entry."""

    sweep: str
    model: str
    values: dict[str, Any]
    entry: dict[str, Any]


def point_name(sweep: str, values: Mapping[str, Any]) -> str:
    """``<sweep>.<param>-<value>...``: a file and target name that says what the point is."""
    for key, value in values.items():
        if not VALUE.match(str(value)):
            raise SweepError(
                f"config key sweeps.{sweep}.grid.{key}: value {value!r} cannot name a run "
                "(letters, digits and _ . + - only)"
            )
    return ".".join([sweep, *(f"{key}-{value}" for key, value in values.items())])


def sweep_points(config: Mapping[str, Any]) -> dict[str, SweepPoint]:
    """Every point of every sweep, in config order, by name."""
    points: dict[str, SweepPoint] = {}
    for sweep, spec in (config.get("sweeps") or {}).items():
        base = config["models"].get(spec["model"])
        if base is None:
            raise SweepError(
                f"config key sweeps.{sweep}.model: {spec['model']!r} is not an entry of models "
                f"({', '.join(config['models'])})"
            )
        tuned = set(spec["grid"]) & set(base.get("tune") or {})
        if tuned:
            raise SweepError(
                f"config key sweeps.{sweep}.grid.{sorted(tuned)[0]}: also tuned in models.{spec['model']}.tune; "
                "a sweep point must fix what it varies"
            )
        for values in candidates(spec["grid"]):
            entry = {
                "class": base["class"],
                "params": {**(base.get("params") or {}), **values},
                "tune": dict(base.get("tune") or {}),
                "tuning": {"seconds": None},  # a point is the headline's trials: time per point would multiply a sweep
            }
            if "search" in base:  # the point fixes what it varies and searches the rest
                entry["search"] = {k: v for k, v in base["search"].items() if k not in spec["grid"]}
            points[point_name(sweep, values)] = SweepPoint(sweep, spec["model"], values, entry)
    return points
