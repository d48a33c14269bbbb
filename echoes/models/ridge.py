"""Ridge-regression readouts solved in closed form from streamed sufficient statistics.

The readout of an ESN (and of the mean-of-frames control) maps a clip's feature vector ``x`` to
class scores ``x W + b``, fitted to one-hot targets by minimising
``||Y - X W - 1 b||^2 + ridge * ||W||^2``. The intercept ``b`` is not penalised, so the
problem is solved on centred data.

Memory never exceeds one ``d x d`` matrix (``d`` = feature dimension), however many clips stream
in. Which summary is kept depends on which is smaller:

- while there are at most ``d`` clips, the clips themselves; the solve and GCV then use the
  ``n x n`` Gram matrix ``X X^T`` (the dual form, ``O(n^3)``: a 300-clip dataset under a
  2000-unit reservoir needs no 2000-dimensional eigendecomposition, and its GCV stays exact
  where the readout can interpolate the training clips);
- beyond that, ``X^T X`` (the primal form, ``O(d^3)``), into which the kept clips are folded.

Both give the same weights and GCV scores (up to rounding); ``n``, ``sum x``, ``sum y``,
``X^T Y`` and ``||Y||^2`` are streamed in either case.

``ridge`` is added to the diagonal of the centred ``X^T X`` (a sum over clips, the ReservoirPy
convention); ``ridge=0`` gives the minimum-norm least-squares solution. ``ridge="auto"`` picks it
from a log-spaced grid by generalised cross-validation (GCV), computed for every candidate from
one eigendecomposition (of ``X^T X`` or of ``X X^T``, whichever is smaller).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from echoes.contracts import params
from echoes.models.base import BaseModel

RIDGE_GRID = tuple(10.0**k for k in np.arange(-4.0, 4.5, 0.5))


def _exact_zeros(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a Gram matrix with its rounding noise (``< n * eps * max``) set to exactly 0.

    Centring leaves at least one null direction; an eigenvalue of 1e-13 there instead of 0 would
    shift ``n - dof`` by ``1e-13 / ridge``, which at small ridges is most of the GCV denominator.
    """
    tolerance = len(eigenvalues) * torch.finfo(eigenvalues.dtype).eps * float(eigenvalues.abs().max())
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


def spd_solve(gram: torch.Tensor, ridge: float, rhs: torch.Tensor) -> torch.Tensor:
    """``(gram + ridge I)^-1 rhs`` by Cholesky (``gram`` is a Gram matrix, so positive definite once
    ``ridge > 0``): a third of an LU solve's work, which is what a readout with as many features as
    clips (AllFrames at UCF101 size: 7,378 x 7,378) spends its fit on. LU if rounding breaks definiteness."""
    shifted = gram + ridge * torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
    factor, info = torch.linalg.cholesky_ex(shifted)
    if int(info) != 0:
        return torch.linalg.solve(shifted, rhs)
    return torch.cholesky_solve(rhs, factor)


class RidgeAccumulator:
    """Streams ``(features, labels)`` batches into the statistics a ridge solution needs (float64)."""

    def __init__(self, dim: int, num_classes: int, device: str | torch.device = "cpu") -> None:
        self.dim = dim
        self.num_classes = num_classes
        self._kw = {"dtype": torch.float64, "device": device}
        self.n = 0
        self.sum_x = torch.zeros(dim, **self._kw)
        self.sum_y = torch.zeros(num_classes, **self._kw)
        self.xty = torch.zeros(dim, num_classes, **self._kw)
        self.yty = 0.0
        self.xtx: torch.Tensor | None = None  # created once the clips outnumber the dimensions
        self._gcv_cache: tuple[int, Callable[[float], tuple[float, float]]] | None = None
        self._rows: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    @property
    def dual(self) -> bool:
        """True while the clips themselves are kept (no more clips than dimensions)."""
        return self.xtx is None

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = features.to(**self._kw)
        y = nn.functional.one_hot(labels.to(x.device).long(), self.num_classes).to(x)
        self.n += x.shape[0]
        self.sum_x += x.sum(0)
        self.sum_y += y.sum(0)
        self.xty.addmm_(x.T, y)  # in place: no d x c temporary
        self.yty += float((y * y).sum())
        if self.dual and self.n <= self.dim:
            self._rows.append(x)
            self._targets.append(y)
            return
        if self.dual:
            self.xtx = torch.zeros(self.dim, self.dim, **self._kw)
            for kept in self._rows:
                self.xtx.addmm_(kept.T, kept)
            self._rows, self._targets = [], []
        self.xtx.addmm_(x.T, x)  # in place: no d x d temporary per batch

    def _means(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n < 2:
            raise ValueError(f"a ridge readout needs at least 2 training clips, got {self.n}")
        return self.sum_x / self.n, self.sum_y / self.n

    def _centred_clips(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean_x, mean_y = self._means()
        return torch.cat(self._rows) - mean_x, torch.cat(self._targets) - mean_y

    def _centred_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Centred ``X^T X`` and ``X^T Y``."""
        mean_x, mean_y = self._means()
        return self.xtx - self.n * torch.outer(mean_x, mean_x), self.xty - self.n * torch.outer(mean_x, mean_y)

    def solve(self, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights ``[dim, classes]`` and intercept ``[classes]`` for one ridge strength."""
        mean_x, mean_y = self._means()
        if self.dual:
            xc, yc = self._centred_clips()
            weights = torch.linalg.pinv(xc) @ yc if ridge == 0 else xc.T @ spd_solve(xc @ xc.T, ridge, yc)
        else:
            sxx, sxy = self._centred_moments()
            # X^T X may be singular (collinear features): at ridge 0 the minimum-norm solution, as in dual form
            weights = torch.linalg.pinv(sxx, hermitian=True) @ sxy if ridge == 0 else spd_solve(sxx, ridge, sxy)
        return weights, mean_y - mean_x @ weights

    def gcv_scores(self, grid: Iterable[float] = RIDGE_GRID) -> dict[float, float]:
        """Generalised cross-validation error (mean squared, per target entry) for each ridge.

        GCV(r) = (RSS(r) / (n c)) / ((n - dof(r)) / n)^2, with ``dof`` counting the intercept.
        From the eigenvalues ``s_i`` of the centred Gram matrix ``X X^T`` and the squared
        projections ``b_i = ||u_i^T Y||^2`` (dual form), ``RSS = sum (r / (s_i + r))^2 b_i`` and
        ``n - dof = sum r / (s_i + r) - 1``: no cancellation even where the fit interpolates.
        From ``X^T X`` (primal form, ``a_i = ||v_i^T X^T Y||^2``),
        ``RSS = ||Y||^2 - sum a_i (s_i + 2r) / (s_i + r)^2`` and ``dof = 1 + sum s_i / (s_i + r)``.
        """
        rss_and_free = self._gcv_terms()
        scores = {}
        for ridge in map(float, grid):
            rss, free = rss_and_free(ridge)
            scores[ridge] = (max(rss, 0.0) / (self.n * self.num_classes)) / max(free / self.n, 1e-12) ** 2
        return scores

    def _gcv_terms(self) -> Callable[[float], tuple[float, float]]:
        """``r -> (RSS(r), n - dof(r))`` from one eigendecomposition, kept until more clips stream in."""
        if self._gcv_cache is not None and self._gcv_cache[0] == self.n:
            return self._gcv_cache[1]
        if self.dual:
            xc, yc = self._centred_clips()
            s, u = torch.linalg.eigh(xc @ xc.T)
            s, b = _exact_zeros(s), ((u.T @ yc) ** 2).sum(1)

            def rss_and_free(r: float) -> tuple[float, float]:
                shrink = r / (s + r)
                return float((shrink**2 * b).sum()), float(shrink.sum()) - 1.0
        else:
            sxx, sxy = self._centred_moments()
            s, v = torch.linalg.eigh(sxx)
            s, a = _exact_zeros(s), ((v.T @ sxy) ** 2).sum(1)
            mean_y = self._means()[1]
            syy = self.yty - self.n * float(mean_y @ mean_y)

            def rss_and_free(r: float) -> tuple[float, float]:
                rss = syy - float((a * (s + 2 * r) / (s + r) ** 2).sum())
                return rss, self.n - 1.0 - float((s / (s + r)).sum())

        self._gcv_cache = (self.n, rss_and_free)
        return rss_and_free

    def select_ridge(self, grid: Iterable[float] = RIDGE_GRID) -> float:
        scores = self.gcv_scores(grid)
        return min(scores, key=scores.get)


def widened_gcv(acc: RidgeAccumulator, grid: Sequence[float] = RIDGE_GRID, widen: int = 8) -> tuple[dict, str]:
    """GCV scores over ``grid``, widened by half decades (``widen`` at most each way) while the best
    ridge is at an end of it, as a GCV curve still falling there would have its minimum further out.
    Also says where the best stands: ``""``, or ``"lower"``/``"upper"`` if still at an end."""
    grid, step = sorted(map(float, grid)), 10.0**0.5
    scores = acc.gcv_scores(grid)
    for _ in range(widen):
        best = min(scores, key=scores.get)
        if best == grid[0] and best > 0:
            grid.insert(0, best / step)
        elif best == grid[-1]:
            grid.append(best * step)
        else:
            return scores, ""
        scores |= acc.gcv_scores([grid[0], grid[-1]])  # the decomposition is kept: cheap
    best = min(scores, key=scores.get)
    return scores, "lower" if best == grid[0] else "upper" if best == grid[-1] else ""


class ClosedFormModel(BaseModel):
    """A frozen encoder (``encode``: ``[B, T, F] -> [B, D]``) under a ridge readout fitted by ``fit``.

    A model drawn at random (a reservoir) may carry further draws of itself in ``members``, each with
    its own readout: ``fit`` fits them all on the same clips and ``forward`` averages their class scores
    with its own (an ensemble; averaging scores of independent draws cancels part of what one random
    draw gets wrong). ``members`` is empty by default: one draw, one readout.
    """

    fit_method: ClassVar[str] = "closed_form"
    kind: ClassVar[str] = "closed-form readout"

    def __init__(self, feature_dim: int, num_classes: int, ridge: float | str = "auto") -> None:
        super().__init__()
        params.check(ridge=ridge)
        self.ridge = ridge
        self.readout = nn.Linear(feature_dim, num_classes)
        self.num_classes = num_classes
        self.members = nn.ModuleList()

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_encoder(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Fit what the encoder learns from the fit clips without their labels (a PCA), before the
        readout's pass; nothing by default (a frozen reservoir, a mean over frames)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.readout(self.encode(x))
        for member in self.members:
            scores = scores + member(x)
        return scores / (1 + len(self.members))

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """The encoder's own fit (:meth:`fit_encoder`), one pass over the training batches, then the
        closed-form solve; then each of ``members`` the same way. ``batches`` must be re-iterable (a
        list, :class:`echoes.training.data.Batches`): an encoder with a PCA passes over them twice.

        Returns what a log should tell: the ridge used, the GCV score of every candidate ridge
        (``ridge="auto"``), the clips seen, and the seconds spent harvesting (the encoder's fit
        included) and solving, all members' together; with members, each one's ridge too
        (``member_ridges``: this model's first).
        """
        if iter(batches) is batches:
            raise TypeError("ClosedFormModel.fit needs re-iterable batches (a list or Batches), not an iterator")
        info = self._fit_own(batches)
        return with_members(info, [member.fit(batches) for member in self.members]) if self.members else info

    def _fit_own(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """:meth:`fit` of this model's own encoder and readout, its members aside."""
        device = self.readout.weight.device
        acc = RidgeAccumulator(self.readout.in_features, self.num_classes, device)
        start = time.perf_counter()
        self.fit_encoder(batches)
        for x, y in batches:
            acc.update(self.encode(x.to(device)), y)
        harvested = time.perf_counter()
        gcv, edge = widened_gcv(acc) if self.ridge == "auto" else ({}, "")
        ridge = min(gcv, key=gcv.get) if gcv else float(self.ridge)
        if edge:
            print(f"WARNING: GCV chose ridge {ridge:.4g}, the {edge} end of its grid even widened: its score was "
                  "still falling there (ridge_at_grid_edge in metrics.json)", file=sys.stderr)  # fmt: skip
        weights, intercept = acc.solve(ridge)
        self.readout.weight.copy_(weights.T.float())
        self.readout.bias.copy_(intercept.float())
        return {
            "ridge": ridge,
            "train_clips": acc.n,
            "harvest_s": harvested - start,
            "solve_s": time.perf_counter() - harvested,
            "gcv": {f"{r:.4g}": score for r, score in sorted(gcv.items())},
            "ridge_at_grid_edge": edge,
        }


def with_members(own: dict, members: list[dict]) -> dict:
    """One fit's info for a model and its members: times summed, every draw's ridge (its own first), and a
    GCV at the end of its grid if any draw's was."""
    fits = [own, *members]
    return {
        **own,
        "harvest_s": sum(fit["harvest_s"] for fit in fits),
        "solve_s": sum(fit["solve_s"] for fit in fits),
        "member_ridges": [fit["ridge"] for fit in fits],
        "ridge_at_grid_edge": next((edge for fit in fits if (edge := fit["ridge_at_grid_edge"])), ""),
    }
