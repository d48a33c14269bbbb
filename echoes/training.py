"""Training and evaluation of one model on one split with one seed, measured.

Both kinds of model see the same inputs: frame features standardised with the training clips'
per-dimension mean and standard deviation.

- Gradient models (LSTMs, user models): Adam on cross-entropy in shuffled mini-batches, gradient
  norm clipping, early stopping on validation accuracy with ``patience``; the weights of the best
  validation epoch are kept. The validation clips are whole groups carved from the training list
  (clips of one group come from one long video, so a clip-level split would leak).
- Closed-form models (ESNs, the mean-of-frames control): one pass over all training clips, in
  batches of ``harvest_batch_size`` (large, because the reservoir's per-step matrix product runs
  near the machine's peak only for wide batches), then the ridge solve. They need no validation
  set; their one pass is "epoch 1".

The **convergence epoch** is the first epoch whose validation accuracy is within
``convergence_tolerance`` (default 0.005, half a point) of the best validation accuracy.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from echoes.data.ucf101 import read_manifest
from echoes.models import BaseModel, build_model
from echoes.utils import (
    atomic_path,
    draw_groups,
    peak_rss_mib,
    pick_device,
    seed_everything,
    set_threads,
    write_json,
)

METRICS_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops instead of reporting garbage."""


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of the gradient loop and of the measurements (``training:`` in config.yaml)."""

    max_epochs: int = 60
    batch_size: int = 64
    harvest_batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    val_fraction: float = 0.2
    grad_clip: float = 1.0
    convergence_tolerance: float = 0.005
    inference_repeats: int = 10

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainingConfig:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass
class SplitData:
    """One split's clips in memory: features ``[N, T, F]`` float32, labels, groups."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    train_groups: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    attrs: dict = field(default_factory=dict)


def load_split(features_path: Path, manifest_path: Path, split: int) -> SplitData:
    """The train and test clips of official ``split`` that have features (decoded successfully)."""
    manifest = read_manifest(manifest_path)
    with h5py.File(features_path, "r") as h5:
        ids = [s.decode() for s in h5["video_ids"][:]]
        row = {video_id: i for i, video_id in enumerate(ids)}
        features, labels, groups = h5["features"][:], h5["labels"][:], h5["groups"][:]
        classes = [s.decode() for s in h5["classes"][:]]
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h5.attrs.items()}
    train = [row[v] for v in manifest.ids(split, "train") if v in row]
    test = [row[v] for v in manifest.ids(split, "test") if v in row]
    if not train or not test:
        raise ValueError(
            f"{features_path}: split {split} has {len(train)} training and {len(test)} test clips with features"
        )
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    fit, held_out = torch.tensor(train), torch.tensor(test)
    return SplitData(x[fit], y[fit], groups[train], x[held_out], y[held_out], classes, attrs)


def standardise(train_x: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Scale every feature dimension to zero mean, unit variance over the training frames."""
    mean = train_x.mean(dim=(0, 1), keepdim=True)
    std = train_x.std(dim=(0, 1), keepdim=True).clamp_min(1e-6)
    return tuple((x - mean) / std for x in (train_x, *others))


def group_holdout(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): whole groups, about ``fraction`` of them, drawn with ``seed``."""
    n_groups = len(np.unique(groups))
    if fraction <= 0 or n_groups < 2:
        raise ValueError(f"a validation set needs val_fraction > 0 and >= 2 groups, got {fraction} and {n_groups}")
    val_groups = draw_groups(groups, fraction, np.random.default_rng(seed))
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


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


def convergence_epoch(val_accuracy: list[float], tolerance: float) -> int:
    """First epoch (1-based) whose validation accuracy is within ``tolerance`` of the best."""
    best = max(val_accuracy)
    return next(i for i, acc in enumerate(val_accuracy, start=1) if acc >= best - tolerance)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def fit_gradient(
    model: BaseModel,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: TrainingConfig,
    device: str,
    seed: int,
) -> list[dict]:
    """Adam with early stopping; leaves the best validation epoch's weights in ``model``."""
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best_acc, best_state, waited = -1.0, None, 0
    progress = tqdm(range(1, cfg.max_epochs + 1), desc="epochs", unit="epoch", mininterval=2)
    for epoch in progress:
        _sync(device)
        start = time.perf_counter()
        model.train()
        losses, correct = [], 0
        for step, (xb, yb) in enumerate(batches(*train, cfg.batch_size, generator)):
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
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
        val_acc = top_k_accuracy(predict(model, val[0], cfg.batch_size, device), val[1], 1)
        _sync(device)
        history.append(
            {
                "epoch": epoch,
                "loss": sum(losses) / len(train[0]),
                "train_accuracy": correct / len(train[0]),
                "val_accuracy": val_acc,
                "seconds": time.perf_counter() - start,
            }
        )
        progress.set_postfix(loss=f"{history[-1]['loss']:.3f}", val=f"{val_acc:.3f}")
        if val_acc > best_acc:
            best_acc, waited = val_acc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    model.load_state_dict(best_state)
    return history


def fit_closed_form(
    model: BaseModel, train: tuple[torch.Tensor, torch.Tensor], cfg: TrainingConfig, device: str
) -> tuple[list[dict], dict]:
    _sync(device)
    start = time.perf_counter()
    info = model.fit(batches(*train, cfg.harvest_batch_size))
    _sync(device)
    seconds = time.perf_counter() - start
    train_acc = top_k_accuracy(predict(model, train[0], cfg.harvest_batch_size, device), train[1], 1)
    return [{"epoch": 1, "train_accuracy": train_acc, "seconds": seconds}], info


def inference_time_per_batch(model: nn.Module, x: torch.Tensor, batch_size: int, repeats: int, device: str) -> float:
    """Median seconds to classify one batch, after one warm-up pass (no first-call overheads)."""
    batch = x[:batch_size].to(device)
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            _sync(device)
            start = time.perf_counter()
            model(batch)
            _sync(device)
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_and_evaluate(
    features_path: Path, manifest_path: Path, *, split: int, **settings: Any
) -> tuple[dict, BaseModel]:
    """Train one configured model on one split and seed; returns its metrics and the fitted model.

    ``settings`` are :func:`train_on_split`'s keyword arguments (name, model_class, model_params,
    training, seed, device, threads).
    """
    return train_on_split(load_split(features_path, manifest_path, split), split=split, **settings)


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
) -> tuple[dict, BaseModel]:
    """:func:`train_and_evaluate` on clips already in memory (``split`` only labels the metrics)."""
    set_threads(threads)
    device = pick_device(device)
    cfg = TrainingConfig.from_mapping(training)
    seed_everything(seed)
    train_x, test_x = standardise(data.train_x, data.test_x)
    model = build_model(model_class, model_params, train_x.shape[-1], len(data.classes), seed, key=f"models.{name}")
    model = model.to(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    if model.fit_method == "closed_form":
        history, info = fit_closed_form(model, (train_x, data.train_y), cfg, device)
        converged = best_epoch = 1
        val_clips = 0
    else:
        fit_idx, val_idx = group_holdout(data.train_groups, cfg.val_fraction, seed)
        history = fit_gradient(
            model,
            (train_x[fit_idx], data.train_y[fit_idx]),
            (train_x[val_idx], data.train_y[val_idx]),
            cfg,
            device,
            seed,
        )
        val_curve = [h["val_accuracy"] for h in history]
        best_epoch = val_curve.index(max(val_curve)) + 1
        converged = convergence_epoch(val_curve, cfg.convergence_tolerance)
        info, val_clips = {}, len(val_idx)

    pass_size = cfg.harvest_batch_size if model.fit_method == "closed_form" else cfg.batch_size
    logits = predict(model, test_x, pass_size, device)
    epoch_seconds = [h["seconds"] for h in history]
    metrics = {
        "format": METRICS_FORMAT,
        "status": "ok",
        "model": name,
        "class": model_class,
        "params": dict(model_params),
        "fit_method": model.fit_method,
        "split": split,
        "seed": seed,
        "device": device,
        "threads": torch.get_num_threads(),
        "accuracy_top1": top_k_accuracy(logits, data.test_y, 1),
        "accuracy_top5": top_k_accuracy(logits, data.test_y, 5),
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
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "trainable_params": model.trainable_parameters(),
        "total_params": model.total_parameters(),
        "train_clips": len(train_x) - val_clips,
        "val_clips": val_clips,
        "test_clips": len(test_x),
        "classes": data.classes,
        "confusion": confusion_matrix(logits.argmax(1), data.test_y, len(data.classes)),
        "history": history,
        "fit_info": info,
        "training": asdict(cfg),
        "features": data.attrs,
        "versions": {"torch": str(torch.__version__), "numpy": np.__version__},
    }
    if not all(math.isfinite(v) for v in (metrics["accuracy_top1"], metrics["train_time_s"])):
        raise TrainingDiverged(f"{name}: non-finite final metrics")
    return metrics, model


def failed_metrics(
    name: str, model_class: str, params: Mapping[str, Any], split: int, seed: int, error: BaseException, log: str | None
) -> dict:
    """The metrics file of a run that failed: what failed, why, and where the full log is."""
    return {
        "format": METRICS_FORMAT,
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
    tracking: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    on_failure: str = "report",
    log_path: str | None = None,
) -> dict:
    """Stage entry point: train, write ``model.pt`` and ``metrics.json``, then log to MLflow.

    The files are written before tracking is attempted, so an unreachable tracking server
    costs a warning, never the result. With ``on_failure="report"`` a model that fails
    (diverges, bad params, out of memory) writes a metrics file with ``status: failed``, the
    error and the log path instead of stopping the workflow, so the report still renders and
    marks that row; ``"fail"`` re-raises.
    """
    from echoes.tracking import log_training_run, run_name

    out_dir = Path(out_dir)
    try:
        metrics, model = train_and_evaluate(
            features_path,
            manifest_path,
            name=name,
            model_class=model_class,
            model_params=model_params,
            training=training,
            split=split,
            seed=seed,
            device=device,
            threads=threads,
        )
        state = model.state_dict()
    except Exception as error:
        if on_failure != "report":
            raise
        traceback.print_exc()
        print(f"WARNING: {name} (split {split}, seed {seed}) failed; the report marks it as failed", file=sys.stderr)
        metrics = failed_metrics(name, model_class, model_params, split, seed, error, log_path)
        state = {}
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(state, tmp)
    write_json(out_dir / "metrics.json", metrics)
    if tracking:
        scalar = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        log_training_run(
            tracking["tracking_uri"],
            tracking["experiment_name"],
            run_name(name, split, seed),
            params={
                "model": name,
                "class": model_class,
                "params": dict(model_params),
                "training": dict(training),
                "split": split,
                "seed": seed,
            },
            metrics=scalar,
            history=metrics["history"],
            artifacts=[out_dir / "metrics.json", out_dir / "model.pt"],
            tags={
                "echoes.device": metrics.get("device", device),
                "echoes.status": metrics.get("status", "ok"),
                **(tags or {}),
            },
            status="FAILED" if metrics.get("status") == "failed" else "FINISHED",
        )
    return metrics
