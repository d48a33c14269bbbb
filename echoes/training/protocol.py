"""The model-selection protocol: which clips validate, which candidates compete, which one wins.

The same rules hold for every kind of model, so that the comparison favours none:

- **Validation** is whole groups (clips of one group are cut from one long video; a clip-level
  split would leak), drawn per seed: at least ``min_groups`` groups and at least ``fraction`` of the
  training clips, whichever takes more. A single group is one scene and says little about test.
- **Final fit on the same clips.** Every model, gradient-trained or closed-form, is fitted on the
  training clips minus the validation groups; validation only chooses.
- **Equal tuning budget.** Every model gets the same number of trials (``tuning.trials``, or
  the whole of its ``tune`` grid), each fitted on the fit clips and scored on validation; with
  ``tuning.seconds`` also the same tuning time, and the report shows both views. What a trial
  sets is a point of the model's ``search`` space or ``tune`` grid (:mod:`echoes.training.space`):
  constructor arguments or ``training`` settings (``normalisation``, ``learning_rate``, ...).
- **Selection on validation only**: highest validation accuracy; ties (a saturated validation set)
  go to the lower validation loss of the model kind's own objective (cross-entropy for gradient models,
  squared error to one-hot targets for ridge readouts), then to the earlier trial. The test
  clips are never passed to anything in this module.

Inputs are normalised identically for every model (``training.normalisation``, a tunable key;
see :mod:`echoes.normalisation`), with statistics of the fit clips alone.

These rules are plain functions without PyTorch (the workflow checks a config's grids with them
while it builds the DAG); :mod:`echoes.training.tuning` fits the candidates by them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from echoes.contracts.records import TrialRecord

if TYPE_CHECKING:
    from echoes.training.space import TuningBudget
    from echoes.training.spec import TrainingConfig


def validation_groups(groups: np.ndarray, fraction: float, min_groups: int, seed: int) -> np.ndarray:
    """Sorted group labels held out for validation, drawn with ``seed``.

    Groups are taken in a seeded random order until there are at least ``min_groups`` of them and
    they hold at least ``fraction`` of the clips; at least one group is always left for fitting.
    """
    unique, counts = np.unique(np.asarray(groups), return_counts=True)
    if min_groups < 1 or not 0 < fraction < 1:
        raise ValueError(f"validation needs min_val_groups >= 1 and 0 < val_fraction < 1, got {min_groups}, {fraction}")
    if len(unique) <= min_groups:
        raise ValueError(
            f"validation needs {min_groups} whole groups and at least one more to fit on, but the training clips "
            f"come from {len(unique)} group(s) (a group is the set of clips cut from one long video, UCF101's gNN)"
        )
    size = dict(zip(unique.tolist(), counts.tolist(), strict=True))
    chosen: list = []
    for group in np.random.default_rng(seed).permutation(unique).tolist():
        chosen.append(group)
        if len(chosen) >= min_groups and sum(size[g] for g in chosen) >= fraction * len(groups):
            break
    if len(chosen) == len(unique):
        chosen.pop()  # never validate on everything: the last group drawn stays for fitting
    return np.sort(np.array(chosen))


def candidates(grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    """The cartesian product of a ``tune`` grid, in config order (the first values first); ``[{}]`` if empty."""
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def split_candidate(
    candidate: Mapping[str, Any], model_arguments: Sequence[str], training_keys: Sequence[str], key: str = "tune"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A candidate's (model params, training settings); a key that is neither is an error naming it."""
    params, training = {}, {}
    for name, value in candidate.items():
        if name in model_arguments:
            params[name] = value
        elif name in training_keys:
            training[name] = value
        else:
            raise ValueError(f"{key}.{name}: neither an argument of the model nor a training setting")
    return params, training


@dataclass
class Trial:
    """One trial: a candidate fitted on the fit clips and scored on the validation clips.

    ``seconds`` is the trial's wall clock (normalising, building, fitting, validating), what a
    tuning budget in seconds counts; ``fit_seconds`` the fit alone. A ``pruned`` trial was stopped
    early by the pruner: its scores are those of its last epoch, and it is never selected.
    """

    params: dict[str, Any]
    val_accuracy: float
    val_loss: float
    fit_seconds: float
    seconds: float = 0.0
    number: int = 0
    state: str = "complete"

    def record(self) -> dict[str, Any]:
        """As ``metrics.json``'s ``tuning.trials`` keeps it (:class:`echoes.contracts.records.TrialRecord`)."""
        return TrialRecord(
            number=self.number,
            params=self.params,
            state=self.state,
            val_accuracy=self.val_accuracy,
            val_loss=self.val_loss,
            seconds=self.seconds,
            fit_seconds=self.fit_seconds,
        ).record()


def better(trial: Trial, incumbent: Trial | None) -> bool:
    """Whether ``trial`` beats the best so far: higher validation accuracy, then lower validation loss."""
    if trial.state != "complete":
        return False
    if incumbent is None:
        return True
    if trial.val_accuracy != incumbent.val_accuracy:
        return trial.val_accuracy > incumbent.val_accuracy
    return trial.val_loss < incumbent.val_loss


def trials_wanted(budget: TuningBudget, points: int | None, grid: bool = False) -> int:
    """Trials every model of the headline comparison gets: a grid's every point; a search
    ``tuning.trials``, or its number of ``points`` if it has fewer (a space of choices only)."""
    if grid:
        return points
    return budget.trials if points is None else min(budget.trials, points)


def wants_another(done: int, elapsed: float, budget: TuningBudget, points: int | None, grid: bool = False) -> bool:
    """Whether tuning goes on: until the headline's trials are done and, with ``tuning.seconds``,
    until that much tuning time is spent too (never past the space's ``points``, if it has a
    finite number, or ``max_trials``)."""
    if done >= (points if points is not None else budget.max_trials):
        return False
    return done < trials_wanted(budget, points, grid) or (budget.seconds is not None and elapsed < budget.seconds)


def select(records: list[Trial], wanted: int, seconds: float | None) -> tuple[Trial | None, Trial | None, int]:
    """The best of the first ``wanted`` trials by the protocol's rule (:func:`better`); with ``seconds``,
    the best of those finished within that much tuning time, and how many were."""
    best = within = None
    for record in records[:wanted]:
        if better(record, best):
            best = record
    spent, within_count = 0.0, 0
    for record in records if seconds is not None else []:
        spent += record.seconds
        if spent > seconds:
            break
        within_count += 1
        if better(record, within):
            within = record
    return best, within, within_count


def group_holdout(groups: np.ndarray, cfg: TrainingConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (fit, validation) of the training clips and the validation groups (:func:`validation_groups`)."""
    held_out = validation_groups(groups, cfg.val_fraction, cfg.min_val_groups, seed)
    is_val = np.isin(groups, held_out)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val), held_out
