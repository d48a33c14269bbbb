"""Ridge-regression readouts solved in closed form from streamed sufficient statistics.

The readout of an ESN (and of the mean-of-frames control) maps a clip's feature vector ``x`` to
class scores ``x W + b``, fitted to one-hot targets by minimising
``||Y - X W - 1 b||^2 + ridge * ||W||^2``. The intercept ``b`` is not penalised, so the
problem is solved on centred data. Only ``n``, ``sum x``, ``sum y``, ``X^T X``, ``X^T Y`` and
``||Y||^2`` are kept: memory does not grow with the number of training clips.

``ridge`` is added to the diagonal of the centred ``X^T X`` (a sum over clips, the ReservoirPy
convention). ``ridge="auto"`` picks it from a log-spaced grid by generalised cross-validation
(GCV), computed for every candidate from one eigendecomposition of ``X^T X``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from echoes.models.base import BaseModel

RIDGE_GRID = tuple(10.0**k for k in np.arange(-4.0, 4.5, 0.5))


class RidgeAccumulator:
    """Streams ``(features, labels)`` batches into the statistics a ridge solution needs (float64)."""

    def __init__(self, dim: int, num_classes: int, device: str | torch.device = "cpu") -> None:
        self.num_classes = num_classes
        kw = {"dtype": torch.float64, "device": device}
        self.n = 0
        self.sum_x = torch.zeros(dim, **kw)
        self.sum_y = torch.zeros(num_classes, **kw)
        self.xtx = torch.zeros(dim, dim, **kw)
        self.xty = torch.zeros(dim, num_classes, **kw)
        self.yty = 0.0

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = features.to(self.xtx)
        y = nn.functional.one_hot(labels.to(self.xtx.device).long(), self.num_classes).to(self.xtx)
        self.n += x.shape[0]
        self.sum_x += x.sum(0)
        self.sum_y += y.sum(0)
        self.xtx += x.T @ x
        self.xty += x.T @ y
        self.yty += float((y * y).sum())

    def centred(self) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor, torch.Tensor]:
        if self.n < 2:
            raise ValueError(f"a ridge readout needs at least 2 training clips, got {self.n}")
        mean_x, mean_y = self.sum_x / self.n, self.sum_y / self.n
        sxx = self.xtx - self.n * torch.outer(mean_x, mean_x)
        sxy = self.xty - self.n * torch.outer(mean_x, mean_y)
        syy = self.yty - self.n * float(mean_y @ mean_y)
        return sxx, sxy, syy, mean_x, mean_y

    def solve(self, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights ``[dim, classes]`` and intercept ``[classes]`` for one ridge strength."""
        sxx, sxy, _, mean_x, mean_y = self.centred()
        eye = torch.eye(sxx.shape[0], dtype=sxx.dtype, device=sxx.device)
        weights = torch.linalg.solve(sxx + ridge * eye, sxy)
        return weights, mean_y - mean_x @ weights

    def gcv_scores(self, grid: Iterable[float] = RIDGE_GRID) -> dict[float, float]:
        """Generalised cross-validation error (mean squared, per target entry) for each ridge."""
        sxx, sxy, syy, _, _ = self.centred()
        s, v = torch.linalg.eigh(sxx)
        s = s.clamp_min(0)
        a = ((v.T @ sxy) ** 2).sum(1)  # squared norm of each projected target row
        scores = {}
        for ridge in grid:
            rss = syy - float((a * (s + 2 * ridge) / (s + ridge) ** 2).sum())
            dof = 1.0 + float((s / (s + ridge)).sum())
            scores[float(ridge)] = (max(rss, 0.0) / (self.n * self.num_classes)) / max(1.0 - dof / self.n, 1e-12) ** 2
        return scores

    def select_ridge(self, grid: Iterable[float] = RIDGE_GRID) -> float:
        scores = self.gcv_scores(grid)
        return min(scores, key=scores.get)


class ClosedFormModel(BaseModel):
    """A frozen encoder (``encode``: ``[B, T, F] -> [B, D]``) under a ridge readout fitted by ``fit``."""

    fit_method: ClassVar[str] = "closed_form"

    def __init__(self, feature_dim: int, num_classes: int, ridge: float | str = "auto") -> None:
        super().__init__()
        if ridge != "auto" and not float(ridge) >= 0:
            raise ValueError(f"ridge must be >= 0 or 'auto', got {ridge!r}")
        self.ridge = ridge
        self.readout = nn.Linear(feature_dim, num_classes)
        self.num_classes = num_classes

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.encode(x))

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """One pass over the training batches, then the closed-form solve; returns the chosen ridge."""
        device = self.readout.weight.device
        acc = RidgeAccumulator(self.readout.in_features, self.num_classes, device)
        for x, y in batches:
            acc.update(self.encode(x.to(device)), y)
        ridge = acc.select_ridge() if self.ridge == "auto" else float(self.ridge)
        weights, intercept = acc.solve(ridge)
        self.readout.weight.copy_(weights.T.float())
        self.readout.bias.copy_(intercept.float())
        return {"ridge": ridge, "train_clips": acc.n}
