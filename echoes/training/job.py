"""Training and evaluation of one model on one split with one seed, tuned and measured.

Every model family goes through the same protocol (:mod:`echoes.tuning`): the training clips of
the split lose whole validation groups; each candidate of the model's ``tune`` grid is fitted on
the rest (the *fit* clips) and scored on validation; the best candidate alone meets the test clips.

Inputs are normalised identically for every model (``training.normalisation``, a tunable key;
see :mod:`echoes.normalisation`), with statistics of the fit clips alone.

- Gradient models (LSTMs, user models): AdamW on cross-entropy in shuffled mini-batches, gradient
  norm clipping, early stopping on validation loss with ``patience`` (the loss keeps improving
  after validation accuracy saturates, so a saturated epoch does not end training); the weights
  of the last epoch that lowered the validation loss by more than ``min_delta`` are kept.
- Closed-form models (ESNs, the linear controls): one pass over the fit clips, in batches of
  ``harvest_batch_size`` (large, because the reservoir's per-step matrix product runs near the
  machine's peak only for wide batches), then the ridge solve, its strength chosen by GCV on the
  fit clips. Their one pass is "epoch 1".

The **convergence epoch** is the first epoch whose validation accuracy is within
``convergence_tolerance`` (default 0.005, half a point) of the best validation accuracy.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from echoes.contracts.bundle import write_bundle
from echoes.contracts.features import read_features
from echoes.contracts.manifest import read_manifest
from echoes.contracts.metrics import write_metrics
from echoes.data.preflight import check_clip_policy
from echoes.devices import (
    MemoryWindow,
    available_cores,
    median_seconds,
    peak_rss_mib,
    pick_device,
    seed_everything,
    set_threads,
    synchronize,
)
from echoes.files import sha256_file
from echoes.models import BaseModel, build_model, constructor_arguments, resolve_model_class
from echoes.normalisation import Normaliser, normalise
from echoes.tuning import Trial, better, candidates, split_candidate, validation_groups


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops instead of reporting garbage."""


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of the gradient loop and of the measurements (``training:`` in config.yaml)."""

    max_epochs: int = 100
    batch_size: int = 32
    harvest_batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 15
    min_delta: float = 1e-3
    val_fraction: float = 0.2
    min_val_groups: int = 2
    normalisation: str = "global"
    grad_clip: float = 1.0
    convergence_tolerance: float = 0.005
    inference_repeats: int = 10
    on_failure: str = "report"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingConfig:
        """The ``training:`` section as validated; a key this class does not know is an error, never dropped."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"training.{unknown[0]}: not a training setting ({', '.join(cls.__dataclass_fields__)})")
        return cls(**values)


@dataclass
class SplitData:
    """One split's clips in memory: features ``[N, T, F]`` float32, labels, groups."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    train_groups: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_groups: np.ndarray
    classes: list[str]
    attrs: dict = field(default_factory=dict)


def load_split(features_path: Path, manifest_path: Path, split: int, on_partial_video: str = "keep") -> SplitData:
    """The train and test clips of official ``split`` that have features (decoded successfully).

    Partial clips (fewer frames than their container declares) are left out under
    ``on_partial_video="skip"``; the count left out is ``attrs["partial_clips_left_out"]``.
    """
    manifest = read_manifest(manifest_path)
    data = read_features(features_path)
    left_out = check_clip_policy(data.skipped, data.partial, "skip", on_partial_video)
    row = {video_id: i for i, video_id in enumerate(data.video_ids) if video_id not in left_out}
    features, labels, groups, classes, attrs = data.features, data.labels, data.groups, data.classes, data.attrs
    train = [row[v] for v in manifest.ids(split, "train") if v in row]
    test = [row[v] for v in manifest.ids(split, "test") if v in row]
    if not train or not test:
        raise ValueError(
            f"{features_path}: split {split} has {len(train)} training and {len(test)} test clips with features"
        )
    x = torch.from_numpy(features)
    y = torch.from_numpy(labels.astype(np.int64))
    fit, held_out = torch.tensor(train), torch.tensor(test)
    attrs = {**attrs, "partial_clips_left_out": len(left_out), "on_partial_video": on_partial_video}
    return SplitData(x[fit], y[fit], groups[train], x[held_out], y[held_out], groups[test], classes, attrs)


def group_holdout(groups: np.ndarray, cfg: TrainingConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (fit, validation) of the training clips and the validation groups (:func:`validation_groups`)."""
    held_out = validation_groups(groups, cfg.val_fraction, cfg.min_val_groups, seed)
    is_val = np.isin(groups, held_out)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val), held_out


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    model.eval()
    return torch.cat([model(chunk.to(device)).float().cpu() for chunk in x.split(batch_size)])


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, logits.shape[1])
    return float((logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1).float().mean())


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[list[int]]:
    """Rows are true classes, columns predicted ones."""
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    counts.index_add_(0, labels * num_classes + predicted, torch.ones_like(labels))
    return counts.view(num_classes, num_classes).tolist()


def validation_loss(model: BaseModel, logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The family's own objective on held-out clips: squared error to one-hot for ridge readouts, else cross-entropy."""
    if model.fit_method == "closed_form":
        targets = nn.functional.one_hot(labels, logits.shape[1]).to(logits)
        return float(((logits - targets) ** 2).sum(1).mean())
    return float(nn.functional.cross_entropy(logits, labels))


def require_finite(model: nn.Module, logits: torch.Tensor, what: str) -> None:
    """A model with NaN or infinite weights or outputs is a failed run, never a result (argmax of NaN is class 0)."""
    bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad or not torch.isfinite(logits).all():
        where = f"weights {', '.join(bad[:3])}" if bad else "predictions"
        raise TrainingDiverged(f"{what}: non-finite {where}; check the model's params (NaN, overflow)")


def accuracy_by_group(logits: torch.Tensor, labels: torch.Tensor, groups: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy per test group (``g01``: ...): where a model wins or loses, scene by scene."""
    hits = (logits.argmax(1) == labels).numpy()
    return {f"g{int(g):02d}": float(hits[groups == g].mean()) for g in np.unique(groups)}


def kept_epoch(history: Sequence[Mapping[str, float]], min_delta: float) -> int:
    """The epoch (1-based) whose weights early stopping keeps: the last to lower validation loss by > ``min_delta``."""
    best, kept = math.inf, 1
    for h in history:
        if h["val_loss"] < best - min_delta:
            best, kept = h["val_loss"], h["epoch"]
    return kept


def convergence_epoch(val_accuracy: list[float], tolerance: float) -> int:
    """First epoch (1-based) whose validation accuracy is within ``tolerance`` of the best."""
    best = max(val_accuracy)
    return next(i for i, acc in enumerate(val_accuracy, start=1) if acc >= best - tolerance)


def fit_gradient(
    model: BaseModel,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: TrainingConfig,
    device: str,
    seed: int,
) -> list[dict]:
    """AdamW with early stopping on validation loss; leaves the best validation epoch's weights in ``model``."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best_loss, best_state, waited = math.inf, None, 0
    progress = tqdm(range(1, cfg.max_epochs + 1), desc="epochs", unit="epoch", mininterval=2)
    for epoch in progress:
        synchronize(device)
        start = time.perf_counter()
        model.train()
        losses, correct = [], 0
        for step, (xb, yb) in enumerate(batches(*train, cfg.batch_size, generator)):
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                progress.close()
                raise TrainingDiverged(
                    f"epoch {epoch}, batch {step}: loss is {loss.item()}; lower training.learning_rate "
                    f"(now {cfg.learning_rate}) or training.grad_clip (now {cfg.grad_clip})"
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimiser.step()
            losses.append(loss.item() * len(yb))
            correct += int((logits.argmax(1) == yb).sum())
        val_logits = predict(model, val[0], cfg.batch_size, device)
        val_acc, val_loss = top_k_accuracy(val_logits, val[1], 1), validation_loss(model, val_logits, val[1])
        synchronize(device)
        history.append(
            {
                "epoch": epoch,
                "loss": sum(losses) / len(train[0]),
                "train_accuracy": correct / len(train[0]),
                "val_accuracy": val_acc,
                "val_loss": val_loss,
                "seconds": time.perf_counter() - start,
                "timestamp": int(time.time() * 1000),  # wall clock, for MLflow's time axis
            }
        )
        progress.set_postfix(loss=f"{history[-1]['loss']:.3f}", val_loss=f"{val_loss:.3f}", val=f"{val_acc:.3f}")
        if not math.isfinite(val_loss):
            progress.close()
            raise TrainingDiverged(f"epoch {epoch}: validation loss is {val_loss}")
        if val_loss < best_loss - cfg.min_delta:
            best_loss, waited = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    progress.close()
    best = history[kept_epoch(history, cfg.min_delta) - 1]
    stopped = "stopped early" if len(history) < cfg.max_epochs else "ran all epochs"
    print(
        f"{stopped} after epoch {len(history)}; kept epoch {best['epoch']} "
        f"(validation loss {best['val_loss']:.4f}, accuracy {best['val_accuracy']:.3f})",
        file=sys.stderr,
    )
    model.load_state_dict(best_state)
    return history


def fit_closed_form(
    model: BaseModel, train: tuple[torch.Tensor, torch.Tensor], cfg: TrainingConfig, device: str
) -> tuple[list[dict], dict]:
    synchronize(device)
    start = time.perf_counter()
    info = model.fit(batches(*train, cfg.harvest_batch_size))
    synchronize(device)
    seconds = time.perf_counter() - start
    train_acc = top_k_accuracy(predict(model, train[0], cfg.harvest_batch_size, device), train[1], 1)
    gcv = ", ".join(f"{r}: {score:.4g}" for r, score in info.get("gcv", {}).items())
    print(
        f"closed-form fit on {len(train[0])} clips in {seconds:.2f} s (harvest {info['harvest_s']:.2f} s, "
        f"solve {info['solve_s']:.2f} s); ridge {info['ridge']:.4g}"
        + (f", chosen by GCV from {{{gcv}}}" if gcv else ""),
        file=sys.stderr,
    )
    entry = {"epoch": 1, "train_accuracy": train_acc, "seconds": seconds, "timestamp": int(time.time() * 1000)}
    return [entry], info


def inference_time_per_batch(model: nn.Module, x: torch.Tensor, batch_size: int, repeats: int, device: str) -> float:
    """Median seconds to classify one batch, after one warm-up pass (no first-call overheads)."""
    batch = x[:batch_size].to(device)
    model.eval()
    with torch.no_grad():
        return median_seconds(lambda: model(batch), repeats, device)


def train_and_evaluate(
    features_path: Path, manifest_path: Path, *, split: int, on_partial_video: str = "keep", **settings: Any
) -> tuple[dict, BaseModel, Normaliser]:
    """Train one configured model on one split and seed; returns its metrics, the fitted model and its input normaliser.

    ``settings`` are :func:`train_on_split`'s keyword arguments (name, model_class, model_params,
    training, seed, device, threads, tune).
    """
    data = load_split(features_path, manifest_path, split, on_partial_video)
    return train_on_split(data, split=split, **settings)


@dataclass(frozen=True)
class MachineState:
    """The load around a timed fit: other work on the machine makes every time in the row unreliable.

    ``busy`` when the 1-minute load average, at the start or at the end, exceeded the cores this
    process may use plus one (this job's own threads count towards the load). The CPU time the
    process got, against its wall time and threads, is recorded beside it.
    """

    load_start: float
    cpu_start: float
    cores: int

    @classmethod
    def now(cls) -> MachineState:
        return cls(os.getloadavg()[0], time.process_time(), available_cores())

    def until_now(self, wall_seconds: float) -> dict[str, Any]:
        load_end, cpu = os.getloadavg()[0], time.process_time() - self.cpu_start
        threads = torch.get_num_threads()
        utilisation = cpu / max(wall_seconds * threads, 1e-9)
        busy = max(self.load_start, load_end) > self.cores + 1
        return {
            "cores": self.cores,
            "threads": threads,
            "load_1m_start": self.load_start,
            "load_1m_end": load_end,
            "cpu_time_s": cpu,
            "wall_time_s": wall_seconds,
            "cpu_utilisation": utilisation,
            "busy": busy,
        }


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
    data: SplitData,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    name: str,
    model_class: str,
    params: Mapping[str, Any],
    cfg: TrainingConfig,
    candidate: Mapping[str, Any],
    seed: int,
    device: str,
) -> Fitted:
    """Fit one candidate on the fit clips and score it on the validation clips (never on test)."""
    fit_x, val_x = normalise(data.train_x[fit_idx], data.train_x[val_idx], mode=cfg.normalisation)
    fit_y, val_y = data.train_y[fit_idx], data.train_y[val_idx]
    seed_everything(seed)
    model = build_model(
        model_class, params, fit_x.shape[-1], len(data.classes), seed, key=f"models.{name}", num_frames=fit_x.shape[1]
    ).to(device)
    if model.fit_method == "closed_form":
        history, info = fit_closed_form(model, (fit_x, fit_y), cfg, device)
    else:
        history, info = fit_gradient(model, (fit_x, fit_y), (val_x, val_y), cfg, device, seed), {}
    logits = predict(
        model, val_x, cfg.harvest_batch_size if model.fit_method == "closed_form" else cfg.batch_size, device
    )
    require_finite(model, logits, f"candidate {dict(candidate)}")
    trial = Trial(
        dict(candidate),
        top_k_accuracy(logits, val_y, 1),
        validation_loss(model, logits, val_y),
        sum(h["seconds"] for h in history),
    )
    print(
        f"candidate {dict(candidate)}: validation accuracy {trial.val_accuracy:.3f}, loss {trial.val_loss:.4f}",
        file=sys.stderr,
    )
    return Fitted(trial, model, dict(params), cfg, history, info)


def tune(
    data: SplitData,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    name: str,
    model_class: str,
    model_params: Mapping[str, Any],
    training: Mapping[str, Any],
    grid: Mapping[str, Any] | None,
    seed: int,
    device: str,
) -> tuple[Fitted, list[Trial]]:
    """Every candidate of ``grid`` fitted and validated; the best (:func:`echoes.tuning.better`) and all trials.

    Takes the split's training clips only: the test clips cannot choose anything here.
    """
    arguments, _ = constructor_arguments(resolve_model_class(model_class))
    best: Fitted | None = None
    trials = []
    for candidate in candidates(grid):
        params, overrides = split_candidate(
            candidate, arguments, TrainingConfig.__dataclass_fields__, f"models.{name}.tune"
        )
        cfg = TrainingConfig.from_mapping({**training, **overrides})
        fitted = fit_candidate(
            data,
            fit_idx,
            val_idx,
            name=name,
            model_class=model_class,
            params={**model_params, **params},
            cfg=cfg,
            candidate=candidate,
            seed=seed,
            device=device,
        )
        trials.append(fitted.trial)
        if best is None or better(fitted.trial, best.trial):
            best = fitted
    return best, trials


def train_on_split(
    data: SplitData,
    *,
    name: str,
    model_class: str,
    model_params: Mapping[str, Any],
    training: Mapping[str, Any],
    split: int,
    seed: int,
    device: str = "auto",
    threads: int = 1,
    tune_grid: Mapping[str, Any] | None = None,
) -> tuple[dict, BaseModel, Normaliser]:
    """:func:`train_and_evaluate` on clips already in memory (``split`` only labels the metrics)."""
    set_threads(threads)
    device = pick_device(device)
    base_cfg = TrainingConfig.from_mapping(training)
    fit_idx, val_idx, val_groups = group_holdout(data.train_groups, base_cfg, seed)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    machine = MachineState.now()
    memory = MemoryWindow()  # the fit's own peak, above the runtime, libraries and data already held
    tuning_start = time.perf_counter()
    best, trials = tune(
        data,
        fit_idx,
        val_idx,
        name=name,
        model_class=model_class,
        model_params=model_params,
        training=training,
        grid=tune_grid,
        seed=seed,
        device=device,
    )
    tuning_seconds = time.perf_counter() - tuning_start
    machine = machine.until_now(tuning_seconds)
    if machine["busy"]:
        print(f"WARNING: timed on a busy machine: {machine}", file=sys.stderr)
    model, cfg, history = best.model, best.cfg, best.history
    normaliser = Normaliser.fit(data.train_x[fit_idx], cfg.normalisation)
    test_x = normaliser(data.test_x)

    if model.fit_method == "closed_form":
        converged = best_epoch = 1
    else:
        val_curve = [h["val_accuracy"] for h in history]
        best_epoch = kept_epoch(history, cfg.min_delta)
        converged = convergence_epoch(val_curve, cfg.convergence_tolerance)

    pass_size = cfg.harvest_batch_size if model.fit_method == "closed_form" else cfg.batch_size
    logits = predict(model, test_x, pass_size, device)
    require_finite(model, logits, "the selected model")
    epoch_seconds = [h["seconds"] for h in history]
    metrics = {
        "status": "ok",
        "model": name,
        "class": model_class,
        "params": best.params,
        "fit_method": model.fit_method,
        "split": split,
        "seed": seed,
        "device": device,
        "threads": torch.get_num_threads(),
        "accuracy_top1": top_k_accuracy(logits, data.test_y, 1),
        "accuracy_top5": top_k_accuracy(logits, data.test_y, 5),
        "accuracy_by_group": accuracy_by_group(logits, data.test_y, data.test_groups),
        "train_time_s": sum(epoch_seconds),
        "epochs": len(history),
        "time_per_epoch_s": sum(epoch_seconds) / len(history),
        "time_to_convergence_s": sum(epoch_seconds[:converged]),
        "convergence_epoch": converged,
        "best_epoch": best_epoch,
        "inference_time_per_batch_s": inference_time_per_batch(
            model, test_x, cfg.batch_size, cfg.inference_repeats, device
        ),
        "inference_batch_size": min(cfg.batch_size, len(test_x)),
        "peak_rss_mib": peak_rss_mib(),
        "training_peak_mib": memory.peak_above_baseline_mib(),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "trainable_params": model.trainable_parameters(),
        "total_params": model.total_parameters(),
        "train_clips": len(fit_idx),
        "val_clips": len(val_idx),
        "val_groups": [f"g{int(g):02d}" for g in val_groups],
        "test_clips": len(test_x),
        "normalisation": cfg.normalisation,
        "tuning": {
            "grid": {k: list(v) for k, v in (tune_grid or {}).items()},
            "candidates": len(trials),
            "selected": best.trial.candidate,
            "trials": [t.record() for t in trials],
            "time_s": tuning_seconds,
        },
        "val_accuracy": best.trial.val_accuracy,
        "machine": machine,
        "classes": data.classes,
        "confusion": confusion_matrix(logits.argmax(1), data.test_y, len(data.classes)),
        "history": history,
        "fit_info": best.info,
        "training": asdict(cfg),
        "features": data.attrs,
        "versions": {"torch": str(torch.__version__), "numpy": np.__version__},
    }
    if not all(math.isfinite(v) for v in (metrics["accuracy_top1"], metrics["train_time_s"])):
        raise TrainingDiverged(f"{name}: non-finite final metrics")
    return metrics, model, normaliser


def failed_metrics(
    name: str, model_class: str, params: Mapping[str, Any], split: int, seed: int, error: BaseException, log: str | None
) -> dict:
    """The metrics file of a run that failed: what failed, why, and where the full log is."""
    return {
        "status": "failed",
        "model": name,
        "class": model_class,
        "params": dict(params),
        "split": split,
        "seed": seed,
        "error": f"{type(error).__name__}: {error}",
        "log": log,
        "history": [],
    }


#: What a run measured: MLflow metrics. Everything else (split, seed, counts, settings) is a param or tag.
MEASURED = (
    "accuracy_top1",
    "accuracy_top5",
    "train_time_s",
    "time_per_epoch_s",
    "time_to_convergence_s",
    "inference_time_per_batch_s",
    "peak_rss_mib",
    "peak_gpu_mib",
    "trainable_params",
    "total_params",
    "epochs",
    "convergence_epoch",
    "best_epoch",
)


def run_training_job(
    features_path: Path,
    manifest_path: Path,
    out_dir: Path,
    *,
    name: str,
    model_class: str,
    model_params: Mapping[str, Any],
    training: Mapping[str, Any],
    split: int,
    seed: int,
    device: str = "auto",
    threads: int = 1,
    tune_grid: Mapping[str, Any] | None = None,
    tracking: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    on_failure: str | None = None,
    log_path: str | None = None,
    on_partial_video: str = "keep",
) -> dict:
    """Stage entry point: train, write the bundle ``model.pt`` and ``metrics.json``, and track it in MLflow.

    The MLflow run opens when training starts and closes with what it measured, the features it
    read (as the run's dataset input) and the model (an MLflow pyfunc over the bundle). The files
    are written before tracking finishes, so an unreachable tracking server costs a warning, never
    the result. With ``on_failure="report"`` (``training.on_failure`` unless given here) a model
    that fails (diverges, bad params, out of memory) writes a metrics file with ``status: failed``,
    the error and the log path instead of stopping the workflow, so the report still renders and
    marks that row; ``"fail"`` re-raises.
    """
    from echoes.tracking import finish_training_run, resolve_tracking_uri, run_name, start_training_run

    out_dir = Path(out_dir)
    tags = dict(tags or {})
    if tags.get("echoes.git_commit", "unknown") != "unknown":
        tags["mlflow.source.git.commit"] = tags["echoes.git_commit"]
    run_id = uri = None
    if tracking:
        # the URI in force when the job runs (MLFLOW_TRACKING_URI wins), not the one init_tracking saw
        uri = resolve_tracking_uri(tracking.get("configured_uri") or tracking["tracking_uri"])
        run_id = start_training_run(
            uri,
            tracking["experiment_name"],
            run_name(name, split, seed),
            artifact_root=Path(tracking["artifact_root"]) if "artifact_root" in tracking else None,
            params={"model": name, "class": model_class, "tune": dict(tune_grid or {}), "split": split, "seed": seed},
            tags={"echoes.device": device, **tags},
        )
    example = None
    try:
        data = load_split(features_path, manifest_path, split, on_partial_video)
        example = data.train_x[:2].numpy()
        metrics, model, normaliser = train_on_split(
            data,
            split=split,
            name=name,
            model_class=model_class,
            model_params=model_params,
            training=training,
            seed=seed,
            device=device,
            threads=threads,
            tune_grid=tune_grid,
        )
        state = model.state_dict()
        normalisation = {"mode": normaliser.mode, "mean": normaliser.mean, "std": normaliser.std}
    except Exception as error:
        if (on_failure or TrainingConfig.from_mapping(training).on_failure) != "report":
            if run_id is not None:
                finish_training_run(uri, run_id, name, metrics={}, history=[], status="FAILED")
            raise
        traceback.print_exc()
        print(f"WARNING: {name} (split {split}, seed {seed}) failed; the report marks it as failed", file=sys.stderr)
        metrics = failed_metrics(name, model_class, model_params, split, seed, error, log_path)
        state, normalisation = {}, {}
    write_bundle(
        out_dir / "model.pt",
        name=name,
        model_class=model_class,
        params=metrics["params"],
        state_dict=state,
        classes=metrics.get("classes", []),
        normalisation=normalisation,
        features=metrics.get("features", {}),
        status=metrics["status"],
    )
    metrics = write_metrics(out_dir / "metrics.json", metrics)
    if run_id is not None:
        from echoes.mlflow_model import log_model

        ok = metrics["status"] == "ok"
        finish_training_run(
            uri,
            run_id,
            run_name(name, split, seed),
            # the selected candidate's validation accuracy under its own name: val_accuracy is the per-epoch series
            metrics={k: metrics[k] for k in MEASURED if ok and metrics.get(k) is not None}
            | ({"val_accuracy_selected": metrics["val_accuracy"]} if ok else {}),
            history=metrics["history"],
            artifacts=[out_dir / "metrics.json"],
            params={
                "params": metrics["params"],
                "training": metrics.get("training", dict(training)),
                "normalisation": metrics.get("normalisation", ""),
                "val_groups": ",".join(metrics.get("val_groups", [])),
                "clips": {k: metrics.get(k) for k in ("train_clips", "val_clips", "test_clips")},
            },
            tags={"echoes.status": metrics["status"], "echoes.device": metrics.get("device", device)},
            dataset=features_dataset(features_path, metrics.get("features", {})) if ok else None,
            model=(lambda: log_model(out_dir / "model.pt", example)) if ok else None,
            status="FINISHED" if ok else "FAILED",
        )
    return metrics


def features_dataset(features_path: Path, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The features file as MLflow's dataset input: its digest and how it was made."""
    provenance = ("dataset", "backbone", "layer", "weights", "frames_per_clip", "frame_size", "precision")
    return {
        "name": f"{attrs.get('dataset', 'features')} features",
        "digest": sha256_file(features_path)[:16],
        "source": str(Path(features_path).resolve()),
        "profile": {k: attrs.get(k) for k in provenance},
    }
