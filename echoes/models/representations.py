"""How a reservoir's trajectory becomes what the readout sees: the representations of Bianchi,
Scardapane, Løkse & Jenssen, "Reservoir computing approaches for representation and classification
of multivariate time series" (IEEE TNNLS 2021).

A reservoir (or a stack of them, its layers' states concatenated; with ``bidirectional``, also the
states of the time-reversed clip beside them, step by step) turns a clip into a trajectory of
states ``h[1..T]``. The readout is linear, so what it can compute is decided here:

- ``last``, ``mean``, ``last_mean``: the last state, the mean state, or both. Cheap, and what most
  ESN classifiers use, but a linear function of them cannot compare two events at random times
  (an XOR in time): Bianchi et al. show these fall short of trained RNNs.
- ``states``: every step's state, reduced by a PCA fitted on the fit clips' states
  (``reduced_size`` components), concatenated over time: the readout sees the whole trajectory.
- ``model_space`` (the *reservoir model space*): per clip, a ridge model that predicts the next
  reduced state from the current one, ``r[t+1] = A r[t] + c``; its coefficients ``(A, c)`` are the
  clip's representation. They are second-order statistics of the trajectory (how each component
  drives each other one), which is what comparing two events needs.

Everything is closed form and batched: the PCA from a streamed covariance of the fit clips'
states, each clip's model from one small batched solve.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from echoes.contracts.params import PARAMS

REPRESENTATIONS = PARAMS["representation"].choices
#: Representations computed from PCA-reduced states (the PCA is fitted on the fit clips first).
REDUCED = ("states", "model_space")


def representation_width(representation: str, units: int, reduced_size: int, num_frames: int) -> int:
    """Readout features of one clip; checked before the readout is built, so a bad value fails by its name."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    if representation in REDUCED and not 1 <= reduced_size <= units:
        raise ValueError(f"reduced_size must be in [1, {units}] (the states' width), got {reduced_size}")
    return {
        "last": units,
        "mean": units,
        "last_mean": 2 * units,
        "states": num_frames * reduced_size,
        "model_space": reduced_size * (reduced_size + 1),
    }[representation]


def pool_states(states: torch.Tensor, pooling: str) -> torch.Tensor:
    """Summarise feature-major states ``[T, N, B]`` as ``[B, N]`` (last, mean) or ``[B, 2N]`` (last_mean)."""
    if pooling == "last":
        return states[-1].T
    if pooling == "mean":
        return states.mean(0).T
    if pooling == "last_mean":
        return torch.cat([states[-1].T, states.mean(0).T], dim=1)
    raise ValueError(f"pooling must be one of last, mean, last_mean, got {pooling!r}")


def model_space(reduced: torch.Tensor, ridge: float) -> torch.Tensor:
    """Per clip, the coefficients ``[B, k * (k + 1)]`` of ``r[t+1] = A r[t] + c`` fitted by ridge
    regression (``ridge`` on ``A`` only, the intercept unpenalised, as in Bianchi et al.) to the
    clip's reduced states ``[T, k, B]``: ``A`` row-major, then ``c``."""
    steps, k, batch = reduced.shape
    if steps < 2:
        raise ValueError("the reservoir model space needs clips of at least 2 steps")
    r = reduced.permute(2, 0, 1).double()  # [B, T, k]
    x, y = r[:, :-1], r[:, 1:]
    x_mean, y_mean = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.transpose(1, 2) @ xc + ridge * torch.eye(k, dtype=r.dtype, device=r.device)
    coefficients = torch.linalg.solve(gram, xc.transpose(1, 2) @ yc)  # [B, k, k]: r[t+1]^T = r[t]^T A^T
    intercept = y_mean[:, 0] - (x_mean @ coefficients)[:, 0]
    return torch.cat([coefficients.transpose(1, 2).reshape(batch, -1), intercept], 1).to(reduced.dtype)


def top_eigenvectors(covariance: torch.Tensor, k: int, seed: int = 0, iterations: int = 6) -> torch.Tensor:
    """The ``k`` leading eigenvectors ``[N, k]`` of a symmetric PSD matrix, largest first.

    A full ``eigh`` up to 1024 rows; beyond, a seeded subspace iteration with ``k + 10`` vectors
    (Halko, Martinsson & Tropp 2011) and a Rayleigh-Ritz step: the same leading components at a
    fraction of the cost (a 3,000-unit bidirectional DeepESN: ~0.2 s instead of several seconds).
    """
    n = covariance.shape[0]
    if n <= 1024:
        return torch.linalg.eigh(covariance)[1][:, -k:].flip(1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    basis = torch.randn(n, min(n, k + 10), generator=generator, dtype=covariance.dtype).to(covariance.device)
    for _ in range(iterations):
        basis = torch.linalg.qr(covariance @ basis)[0]
    values, vectors = torch.linalg.eigh(basis.T @ covariance @ basis)
    return (basis @ vectors)[:, -k:].flip(1)


#: Column blocks of the states' Gram matrix from states this wide: one GEMM per block row, from its
#: diagonal block on (the blocks below are the transposes of those above): 5/8 of the full product.
GRAM_BLOCKS, GRAM_BLOCKS_FROM = 4, 512


def gram_block_rows(width: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` rows of each block row of a ``width``-wide Gram matrix."""
    parts = GRAM_BLOCKS if width >= GRAM_BLOCKS_FROM else 1
    return list(itertools.pairwise(width * part // parts for part in range(parts + 1)))


def add_upper_gram(products: torch.Tensor, x: torch.Tensor) -> None:
    """Add ``x.T @ x`` (``x`` ``[rows, N]``) to the upper block rows of ``products`` (each from its
    diagonal block on); :func:`mirror_upper_gram` fills the rest once the sum is complete.

    The covariance of a PCA of reservoir states is most of its cost, and it is symmetric: torch has
    no symmetric rank-k product, so the upper block rows are one GEMM each instead."""
    for start, stop in gram_block_rows(x.shape[1]):
        products[start:stop, start:] += (x[:, start:stop].T @ x[:, start:]).double()


def mirror_upper_gram(products: torch.Tensor) -> torch.Tensor:
    """``products`` made whole in place: each block below the diagonal blocks copied from its
    transpose above (no copy of the whole matrix: at 8,000 states one is 512 MB)."""
    for start, stop in gram_block_rows(products.shape[0]):
        products[stop:, start:stop] = products[start:stop, stop:].T
    return products


class StatePCA(nn.Module):
    """A PCA of reservoir states (every step of every fit clip), fitted from streamed moments.

    Its ``mean`` and ``components`` are buffers: frozen once fitted, saved with the model.
    """

    def __init__(self, units: int, components: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(units))
        self.register_buffer("components", torch.zeros(units, components))
        self._moments: tuple | None = None

    def start(self) -> None:
        self._moments = None

    def update(self, states: torch.Tensor) -> None:
        """Add feature-major states ``[T, N, B]``: moments about the first batch's mean, in float64
        (a shifted sum of squares: no cancellation where the mean is large beside the spread)."""
        flat = states.permute(0, 2, 1).reshape(-1, states.shape[1])
        if self._moments is None:
            shift = flat.mean(0).double()
            zeros = torch.zeros(flat.shape[1], dtype=torch.float64, device=flat.device)
            self._moments = (shift, 0, zeros, torch.zeros(flat.shape[1], flat.shape[1], dtype=torch.float64,
                                                           device=flat.device))  # fmt: skip
        shift, count, total, products = self._moments
        centred = flat - shift.to(flat.dtype)
        add_upper_gram(products, centred)
        self._moments = (shift, count + len(flat), total + centred.sum(0).double(), products)

    def finish(self, seed: int = 0) -> None:
        """Set ``mean`` and ``components`` from the moments added since :meth:`start`."""
        if self._moments is None:
            raise ValueError("the state PCA saw no states")
        shift, count, total, products = self._moments
        offset = total / count
        covariance = mirror_upper_gram(products).addr_(offset, offset, alpha=-count).div_(count)  # in place
        self.mean.copy_((shift + offset).to(self.mean.dtype))
        self.components.copy_(top_eigenvectors(covariance, self.components.shape[1], seed).to(self.components.dtype))
        self._moments = None

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Reduced states ``[T, k, B]`` of feature-major states ``[T, N, B]``."""
        return torch.matmul(self.components.T, states - self.mean[:, None])
