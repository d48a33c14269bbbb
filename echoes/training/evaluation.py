"""What a fitted model is scored by: predictions, accuracies, confusion, per-group results, inference time.

Used on validation clips (to choose) and on test clips (to report); nothing here chooses anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from echoes.devices import median_seconds
from echoes.models import BaseModel
from echoes.training.spec import TrainingConfig


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops instead of reporting garbage."""


def pass_size(model: BaseModel, cfg: TrainingConfig) -> int:
    """Clips per forward pass: wide for a reservoir's harvest, the training batch for gradient models."""
    return cfg.harvest_batch_size if model.fit_method == "closed_form" else cfg.batch_size


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """Logits ``[N, C]`` on the CPU, computed in passes of ``batch_size`` clips on ``device``."""
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
    """The model kind's own objective on held-out clips: squared error to one-hot (ridge), else cross-entropy."""
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


def family_masks(labels: torch.Tensor, families: list[str] | None) -> dict[str, np.ndarray]:
    """Which of the clips ``labels`` belong to each task family present (``families[c]`` is class c's);
    empty without families (most real datasets)."""
    if not families:
        return {}
    family = np.array(families)[labels.numpy()]
    return {name: family == name for name in dict.fromkeys(families) if (family == name).any()}


def accuracy_by_family(logits: torch.Tensor, labels: torch.Tensor, families: list[str] | None) -> dict[str, float]:
    """Top-1 accuracy per task family: which kind of temporal structure a model captures."""
    hits = (logits.argmax(1) == labels).numpy()
    return {name: float(hits[mask].mean()) for name, mask in family_masks(labels, families).items()}


def read_as_other_family(logits: torch.Tensor, labels: torch.Tensor, families: list[str] | None) -> dict[str, float]:
    """Per task family, the fraction of its clips predicted as a class of another family: errors that
    miss what kind of clip it is (two colour flashes read as a colour fade) rather than the family's
    own decision (same colours read as different). The two call for different remedies."""
    if not families:
        return {}
    family = np.array(families)
    elsewhere = family[logits.argmax(1).numpy()] != family[labels.numpy()]
    return {name: float(elsewhere[mask].mean()) for name, mask in family_masks(labels, families).items()}


def clips_by_family(labels: torch.Tensor, families: list[str] | None) -> dict[str, int]:
    """Clips per task family: the denominator of each family's accuracy, so a reader sees how many
    points one clip is."""
    return {name: int(mask.sum()) for name, mask in family_masks(labels, families).items()}


def inference_time_per_batch(model: nn.Module, x: torch.Tensor, batch_size: int, repeats: int, device: str) -> float:
    """Median seconds to classify one batch, after one warm-up pass (no first-call overheads)."""
    batch = x[:batch_size].to(device)
    model.eval()
    with torch.no_grad():
        return median_seconds(lambda: model(batch), repeats, device)


def order_probes(
    model: BaseModel, x: torch.Tensor, labels: torch.Tensor, cfg: TrainingConfig, device: str, seed: int
) -> dict[str, float]:
    """Test top-1 with every clip's frames reversed, and shuffled (one seeded permutation per clip):
    what a model loses without the true order is how much it uses it (a mean over frames loses nothing)."""
    permutations = torch.rand(x.shape[:2], generator=torch.Generator().manual_seed(seed)).argsort(1)
    shuffled = x.gather(1, permutations[:, :, None].expand_as(x))
    size = pass_size(model, cfg)
    return {
        "accuracy_reversed": top_k_accuracy(predict(model, x.flip(1), size, device), labels, 1),
        "accuracy_shuffled": top_k_accuracy(predict(model, shuffled, size, device), labels, 1),
    }


def score_on_test(
    model: BaseModel,
    x: torch.Tensor,
    labels: torch.Tensor,
    groups: np.ndarray,
    num_classes: int,
    cfg: TrainingConfig,
    device: str,
    seed: int = 0,
    families: list[str] | None = None,
) -> dict[str, Any]:
    """The selected model on the (normalised) test clips: accuracies, order probes, per group and
    task family, confusion, inference time."""
    logits = predict(model, x, pass_size(model, cfg), device)
    require_finite(model, logits, "the selected model")
    return {
        "accuracy_top1": top_k_accuracy(logits, labels, 1),
        "accuracy_top5": top_k_accuracy(logits, labels, 5),
        "accuracy_by_group": accuracy_by_group(logits, labels, groups),
        "accuracy_by_family": accuracy_by_family(logits, labels, families),
        "read_as_other_family": read_as_other_family(logits, labels, families),
        "confusion": confusion_matrix(logits.argmax(1), labels, num_classes),
        "inference_time_per_batch_s": inference_time_per_batch(model, x, cfg.batch_size, cfg.inference_repeats, device),
        "inference_batch_size": min(cfg.batch_size, len(x)),
    } | order_probes(model, x, labels, cfg, device, seed)
