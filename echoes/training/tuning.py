"""Tuning: every candidate of a run's grid fitted on the fit clips and scored on validation, the best kept.

The rules (which clips validate, which candidates, which wins) are :mod:`echoes.training.protocol`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from echoes.devices import seed_everything
from echoes.models import BaseModel, build_model, constructor_arguments, resolve_model_class
from echoes.normalisation import normalise
from echoes.training.data import SplitData
from echoes.training.evaluation import pass_size, predict, require_finite, top_k_accuracy, validation_loss
from echoes.training.fits import fit_closed_form, fit_gradient
from echoes.training.protocol import Trial, better, candidates, split_candidate
from echoes.training.spec import RunSpec, TrainingConfig


@dataclass
class Fitted:
    """A candidate fitted on the fit clips: its model, settings, history and validation scores."""

    trial: Trial
    model: BaseModel
    params: dict
    cfg: TrainingConfig
    history: list[dict]
    info: dict


def fit_candidate(
    data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, spec: RunSpec, candidate: Mapping[str, Any]
) -> Fitted:
    """Fit one candidate of ``spec``'s grid on the fit clips and score it on the validation clips (never on test)."""
    arguments, _ = constructor_arguments(resolve_model_class(spec.model_class))
    overrides, training_overrides = split_candidate(
        candidate, arguments, TrainingConfig.__dataclass_fields__, f"models.{spec.name}.tune"
    )
    params, cfg = {**spec.params, **overrides}, spec.training.with_overrides(training_overrides)
    fit_x, val_x = normalise(data.train_x[fit_idx], data.train_x[val_idx], mode=cfg.normalisation)
    fit_y, val_y = data.train_y[fit_idx], data.train_y[val_idx]
    seed_everything(spec.seed)
    num_classes, key = len(data.classes), f"models.{spec.name}"
    model = build_model(
        spec.model_class, params, fit_x.shape[-1], num_classes, spec.seed, key=key, num_frames=fit_x.shape[1]
    ).to(spec.device)
    if model.fit_method == "closed_form":
        history, info = fit_closed_form(model, (fit_x, fit_y), cfg, spec.device)
    else:
        history, info = fit_gradient(model, (fit_x, fit_y), (val_x, val_y), cfg, spec.device, spec.seed), {}
    logits = predict(model, val_x, pass_size(model, cfg), spec.device)
    require_finite(model, logits, f"candidate {dict(candidate)}")
    seconds = sum(h["seconds"] for h in history)
    trial = Trial(dict(candidate), top_k_accuracy(logits, val_y, 1), validation_loss(model, logits, val_y), seconds)
    print(
        f"candidate {dict(candidate)}: validation accuracy {trial.val_accuracy:.3f}, loss {trial.val_loss:.4f}",
        file=sys.stderr,
    )
    return Fitted(trial, model, params, cfg, history, info)


def tune(data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, spec: RunSpec) -> tuple[Fitted, list[Trial]]:
    """Every candidate of ``spec.tune`` fitted and validated; the best (:func:`better`) and all trials.

    Takes the split's training clips only: the test clips cannot choose anything here.
    """
    best: Fitted | None = None
    trials = []
    for candidate in candidates(spec.tune):
        fitted = fit_candidate(data, fit_idx, val_idx, spec, candidate)
        trials.append(fitted.trial)
        if best is None or better(fitted.trial, best.trial):
            best = fitted
    return best, trials
