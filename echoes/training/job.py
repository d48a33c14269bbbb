"""One run (model, split, seed) on clips in memory: tuned, selected and scored, into its metrics record.

:func:`train_on_split` tunes, selects and scores a model (the protocol is
:mod:`echoes.training.protocol`); the stage around it, which reads the split and writes the bundle
and ``metrics.json`` and tracks the run, is :func:`echoes.stages.train.run_training_job`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from echoes.contracts.metrics import RunMetrics
from echoes.data.preflight import unseen_classes
from echoes.devices import MachineState, MemoryWindow, peak_rss_mib, pick_device, set_threads
from echoes.models import BaseModel
from echoes.normalisation import Normaliser
from echoes.training.data import SplitData
from echoes.training.evaluation import (
    TrainingDiverged,
    accuracy_by_family,
    clips_by_family,
    pass_size,
    predict,
    score_on_test,
    top_k_accuracy,
)
from echoes.training.fits import convergence_epoch, kept_epoch
from echoes.training.layers import layer_records
from echoes.training.protocol import group_holdout
from echoes.training.spec import RunSpec
from echoes.training.tuning import Fitted, Tuned, refit, tune


def train_on_split(data: SplitData, spec: RunSpec) -> tuple[dict, BaseModel, Normaliser]:
    """Tune ``spec`` on the training clips, score the selected candidate on the test clips.

    Returns the run's metrics record (:class:`echoes.contracts.metrics.RunMetrics`), the fitted
    model and its input normaliser.
    """
    set_threads(spec.threads)
    spec = replace(spec, device=pick_device(spec.device))
    fit_idx, val_idx, val_groups = group_holdout(data.train_groups, spec.training, spec.seed)
    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    machine = MachineState.now()
    memory = MemoryWindow()  # the fit's own peak, above the runtime, libraries and data already held
    start = time.perf_counter()
    tuned = tune(data, fit_idx, val_idx, spec)
    tuning_seconds = time.perf_counter() - start
    final, normaliser = final_fit(data, spec, tuned.best, fit_idx)
    load = machine.until_now(time.perf_counter() - start)
    if load["busy"]:
        print(f"WARNING: timed on a busy machine: {load}", file=sys.stderr)
    resources = fit_resources(memory, spec.device)  # the fit's, before anything else is computed
    test_x = normaliser(data.test_x)
    fitted_on = np.arange(len(data.train_x)) if spec.training.refit else fit_idx
    fit = (data.train_x[fitted_on], data.train_y[fitted_on])
    scores = score_on_test(
        final.model, test_x, data.test_y, data.test_groups, len(data.classes), final.cfg, spec.device, spec.seed,
        data.families,
    )  # fmt: skip
    metrics = RunMetrics(
        **run_fields(spec, final),
        **scores,
        layers=per_layer(final, spec, normaliser, fit, (test_x, data.test_y), len(data.classes)),
        **epoch_fields(final, tuned.best),
        **resources,
        **clip_fields(data, fitted_on, val_idx, val_groups),
        tuning=tuning_record(tuned, tuning_seconds, within_budget_test(tuned, spec, data, fit_idx)),
        val_accuracy=tuned.best.trial.val_accuracy,
        val_accuracy_by_family=validation_by_family(tuned.best, data, fit_idx, val_idx, spec.device, data.families),
        machine=load,
        classes=data.classes,
        features=data.attrs.record(),
    ).record()
    if not all(math.isfinite(metrics[k]) for k in ("accuracy_top1", "train_time_s")):
        raise TrainingDiverged(f"{spec.name}: non-finite final metrics")
    return metrics, final.model, normaliser


def fit_resources(memory: MemoryWindow, device: str) -> dict[str, float | None]:
    """The memory the fit took: the process's peak, the window's own above its start, and the GPU's."""
    return {
        "peak_rss_mib": peak_rss_mib(),
        "training_peak_mib": memory.peak_above_baseline_mib(),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
    }


def clip_fields(data: SplitData, fitted_on: np.ndarray, val_idx: np.ndarray, val_groups: np.ndarray) -> dict:
    """Which clips the run fitted, validated and tested on, and the test classes it could never get right."""
    names = [data.classes[y] for y in data.train_y.tolist()], [data.classes[y] for y in data.test_y.tolist()]
    return {
        "train_clips": len(fitted_on),
        "val_clips": len(val_idx),
        "val_groups": [f"g{int(g):02d}" for g in val_groups],
        "test_clips": len(data.test_x),
        "test_clips_by_family": clips_by_family(data.test_y, data.families),
        "unseen_test_classes": unseen_classes(*names),
    }


def validation_by_family(
    selected: Fitted, data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, device: str, families: list | None
) -> dict[str, float]:
    """The selected trial's validation top-1 per task family (as it was validated: fit-clip normalisation)."""
    if not families:
        return {}
    val_x = Normaliser.fit(data.train_x[fit_idx], selected.cfg.normalisation)(data.train_x[val_idx])
    logits = predict(selected.model, val_x, pass_size(selected.model, selected.cfg), device)
    return accuracy_by_family(logits, data.train_y[val_idx], families)


def final_fit(data: SplitData, spec: RunSpec, selected: Fitted, fit_idx: np.ndarray) -> tuple[Fitted, Normaliser]:
    """The model the test clips score: the selected trial's, or with ``training.refit`` its refit
    on all training clips; and the normaliser of the clips it was fitted on."""
    if spec.training.refit:
        return refit(data, spec, selected)
    return selected, Normaliser.fit(data.train_x[fit_idx], selected.cfg.normalisation)


def per_layer(
    final: Fitted, spec: RunSpec, normaliser: Normaliser, fit: tuple, test: tuple, num_classes: int
) -> list[dict] | None:
    """Per-layer records of a model with layers (:mod:`echoes.training.layers`, e.g. each reservoir of an
    ESN); None for other models."""
    fit = (normaliser(fit[0]), fit[1])
    return layer_records(final.model, fit, test, num_classes, final.cfg.harvest_batch_size, spec.device, spec.seed)


def run_fields(spec: RunSpec, best: Fitted) -> dict[str, Any]:
    """What the run was: model, settings, split, seed, where it ran."""
    return {
        "model": spec.name,
        "model_class": spec.model_class,
        "kind": best.model.kind,
        "params": best.params,
        "fit_method": best.model.fit_method,
        "split": spec.split,
        "seed": spec.seed,
        "device": spec.device,
        "threads": torch.get_num_threads(),
        "trainable_params": best.model.trainable_parameters(),
        "total_params": best.model.total_parameters(),
        "normalisation": best.cfg.normalisation,
        "fit_info": best.info,
        "training": asdict(best.cfg),
        "versions": {"torch": str(torch.__version__), "numpy": np.__version__},
    }


def epoch_fields(final: Fitted, selected: Fitted) -> dict[str, Any]:
    """Training time of the final model's fit (the selected trial's, or its refit) and convergence
    of the selected trial (closed form: one epoch; a refit keeps all its epochs)."""
    history, cfg = final.history, final.cfg
    if final.model.fit_method == "closed_form":
        converged = kept = 1
    else:
        validated = [h.val_accuracy for h in selected.history]
        converged = convergence_epoch(validated, cfg.convergence_tolerance)
        kept = len(history) if final is not selected else kept_epoch(history, cfg.min_delta)
    seconds = [h.seconds for h in history]
    return {
        "train_time_s": sum(seconds),
        "epochs": len(history),
        "time_per_epoch_s": sum(seconds) / len(history),
        "time_to_convergence_s": sum(seconds[:converged]),
        "convergence_epoch": converged,
        "best_epoch": kept,
        "history": [h.record() for h in history],
    }


def within_budget_test(tuned: Tuned, spec: RunSpec, data: SplitData, fit_idx: np.ndarray) -> dict[str, Any] | None:
    """With ``tuning.seconds``: the best trial finished within that time, its test top-1 overall and
    per task family (the equal-time view; the test clips still choose nothing), and the seconds its
    trials took."""
    if spec.budget.seconds is None:
        return None
    within, count = tuned.within_budget, tuned.within_count
    budget = {"seconds": spec.budget.seconds, "trials": count, "spent_s": sum(t.seconds for t in tuned.trials[:count])}
    if within is None:
        return budget | dict.fromkeys(("params", "val_accuracy", "accuracy_top1", "accuracy_by_family"))
    test_x = Normaliser.fit(data.train_x[fit_idx], within.cfg.normalisation)(data.test_x)
    logits = predict(within.model, test_x, pass_size(within.model, within.cfg), spec.device)
    return budget | {
        "params": within.trial.params,
        "val_accuracy": within.trial.val_accuracy,
        "accuracy_top1": top_k_accuracy(logits, data.test_y, 1),
        "accuracy_by_family": accuracy_by_family(logits, data.test_y, data.families),
    }


def tuning_record(tuned: Tuned, seconds: float, within: dict[str, Any] | None) -> dict[str, Any]:
    """How the selected trial was found: sampler, space, every trial, the headline's count."""
    return {
        "sampler": tuned.sampler,
        "space": tuned.space,
        "candidates": tuned.wanted,
        "selected": tuned.best.trial.params,
        "trials": [t.record() for t in tuned.trials],
        "time_s": seconds,
        "within_seconds": within,
    }
