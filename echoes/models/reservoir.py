"""One frozen reservoir: its weights, drawn from a seed, and the leaky-tanh update.

    x[t] = (1 - leak_rate) * x[t-1] + leak_rate * tanh(u[t] W_in + x[t-1] W + b)

:meth:`Reservoir.step` is the equation as written; :meth:`Reservoir.run` computes the same states
for all sequences and steps at once, fast (:mod:`echoes.models.esn_kernels`), held to the
reference step by a test. Weights are drawn with NumPy from the seed: one seed, one reservoir on
every device. The classifiers built on reservoirs are :mod:`echoes.models.esn`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn

from echoes.contracts import params
from echoes.models import esn_kernels as kernels

#: ARPACK's relative tolerance on the largest eigenvalue, and the iterations it gets before the
#: dense solve takes over (ARPACK converges in tens of iterations on a reservoir's W; on a leaky
#: (1 - a) I + a W, whose largest moduli crowd together, it may not converge at all).
ARPACK_TOLERANCE = 1e-10
ARPACK_MAX_ITERATIONS = 300
DENSE_MAX_UNITS = 256


def spectral_radius(matrix: np.ndarray, rng: np.random.Generator | None = None) -> float:
    """Largest absolute eigenvalue, always: a dense solve up to ``DENSE_MAX_UNITS`` rows; above, ARPACK
    to a relative ``ARPACK_TOLERANCE``, and the dense solve (exact, ~1 s at 1,000 units, ~10 s at
    2,000) where ARPACK does not converge within ``ARPACK_MAX_ITERATIONS``."""
    n = matrix.shape[0]
    if n > DENSE_MAX_UNITS:
        v0 = (rng or np.random.default_rng(0)).standard_normal(n)
        try:
            values = scipy.sparse.linalg.eigs(
                matrix, k=1, which="LM", v0=v0, tol=ARPACK_TOLERANCE, maxiter=ARPACK_MAX_ITERATIONS,
                return_eigenvectors=False,
            )  # fmt: skip
            return float(np.abs(values).max())
        except scipy.sparse.linalg.ArpackNoConvergence:
            pass
    return float(np.abs(np.linalg.eigvals(matrix)).max())


def recurrent_weights(units: int, spectral_radius_: float, sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """A ``units x units`` matrix with exactly ``round(sparsity * units**2)`` zeros, rescaled to the radius."""
    total = units * units
    nonzero = total - round(sparsity * total)
    flat = np.zeros(total)
    flat[rng.choice(total, size=nonzero, replace=False)] = rng.uniform(-1.0, 1.0, nonzero)
    matrix = flat.reshape(units, units)
    radius = spectral_radius(matrix, rng)
    if radius == 0.0:
        raise ValueError(f"reservoir of {units} units with sparsity {sparsity} has no non-zero eigenvalue")
    return matrix * (spectral_radius_ / radius)


def keep_fraction(weights: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``weights`` with all but ``round(fraction * size)`` entries, drawn without replacement, set to zero."""
    if fraction == 1.0:
        return weights
    kept = round(fraction * weights.size)
    if kept == 0:
        rows, columns = weights.shape
        raise ValueError(f"input_connectivity {fraction} keeps no entry of a {rows} x {columns} W_in")
    sparse = np.zeros(weights.size)
    chosen = rng.choice(weights.size, size=kept, replace=False)
    sparse[chosen] = weights.reshape(-1)[chosen]
    return sparse.reshape(weights.shape)


def _forget_matrices(reservoir: Reservoir, _incompatible_keys: object) -> None:
    """After ``load_state_dict`` the cached matrices are the old weights' (a function, so that models pickle)."""
    reservoir.forget_recurrent_matrix()


class Reservoir(nn.Module):
    """One frozen leaky-tanh reservoir; its weights are buffers (frozen), not parameters.

    Parameters: those of :class:`ReservoirStack` of the same names (start from its defaults);
    ``input_size`` counts what drives it (features, or the units of the layer below).
    ``recurrent_format`` and ``input_format`` (``auto``, ``dense``, ``csr``; ``onednn`` too for
    the input) force a matrix's form (:mod:`echoes.models.esn_kernels`).
    """

    def __init__(
        self,
        input_size: int,
        reservoir_size: int,
        *,
        spectral_radius: float,
        sparsity: float,
        leak_rate: float,
        input_scaling: float,
        bias_scaling: float,
        input_connectivity: float,
        seed: int | tuple[int, ...] = 0,
    ) -> None:
        super().__init__()
        params.check(
            reservoir_size=reservoir_size,
            spectral_radius=spectral_radius,
            sparsity=sparsity,
            leak_rate=leak_rate,
            input_scaling=input_scaling,
            bias_scaling=bias_scaling,
            input_connectivity=input_connectivity,
        )
        rng = np.random.default_rng(seed)
        self.leak_rate = leak_rate
        self.recurrent_format = "auto"  # or "dense" / "csr": forces the form of W^T (benchmarks, tests)
        self.input_format = "auto"  # the same for W_in^T
        self._matrix_cache: dict[str, tuple] = {}
        self.register_load_state_dict_post_hook(_forget_matrices)
        w_in = rng.uniform(-input_scaling, input_scaling, (input_size, reservoir_size))
        self.register_buffer(
            "W", torch.from_numpy(recurrent_weights(reservoir_size, spectral_radius, sparsity, rng)).float()
        )
        self.register_buffer("bias", torch.from_numpy(rng.uniform(-bias_scaling, bias_scaling, reservoir_size)).float())
        self.register_buffer("W_in", torch.from_numpy(keep_fraction(w_in, input_connectivity, rng)).float())

    @property
    def units(self) -> int:
        return self.W.shape[0]

    @property
    def input_connectivity(self) -> float:
        return kernels.density(self.W_in)

    def forget_recurrent_matrix(self) -> None:
        """Drop the cached ``W^T`` and ``W_in^T``: weights loaded or moved (how a frozen reservoir changes)."""
        self._matrix_cache = {}

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Reservoir:
        self.forget_recurrent_matrix()  # .to(), .float(), .cuda() ... may give W new storage
        return super()._apply(fn, *args, **kwargs)

    def recurrent_matrix(self, device: torch.device) -> torch.Tensor:
        """``W^T`` in the form whose product is fastest on ``device`` (``recurrent_format``; see
        :func:`echoes.models.esn_kernels.fastest_form`), built once per device and format."""
        return self._matrix("W", device)

    def input_matrix(self, device: torch.device) -> torch.Tensor:
        """``W_in^T`` in the form whose product is fastest on ``device`` (``input_format``)."""
        return self._matrix("W_in", device)

    def _matrix(self, name: str, device: torch.device) -> torch.Tensor:
        form = self.recurrent_format if name == "W" else self.input_format
        return kernels.matrix_in_form(self._matrix_cache, name, getattr(self, name), form, self.bias, device)

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the cached matrices behind (oneDNN's packed weight has no storage to copy)."""
        return {**super().__getstate__(), "_matrix_cache": {}}

    def step(self, state: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The reference step, as the equation reads: the next states ``[B, N]`` of states ``[B, N]``
        driven by inputs ``[B, input_size]``. Plain and slow; the harvest (:meth:`run`) must match it."""
        a = self.leak_rate
        return (1 - a) * state + a * torch.tanh(u @ self.W_in + state @ self.W + self.bias)

    def run(
        self,
        u: torch.Tensor,
        w_t: torch.Tensor | None = None,
        initial_state: torch.Tensor | None = None,
        w_in_t: torch.Tensor | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """States ``[T, N, B]`` for feature-major inputs ``[T, input_size, B]``, written to ``out`` if given.

        ``w_t`` and ``w_in_t``: ``recurrent_matrix`` and ``input_matrix`` (looked up if not given).
        """
        w_t = self.recurrent_matrix(u.device) if w_t is None else w_t
        w_in_t = self.input_matrix(u.device) if w_in_t is None else w_in_t
        return kernels.run_reservoir(u, w_t, w_in_t, self.bias, self.leak_rate, initial_state, out)

    def run_half(
        self, u: torch.Tensor, w_t: torch.Tensor, w_in_t: torch.Tensor, out: torch.Tensor, half_inputs: bool = False
    ) -> torch.Tensor:
        """Half-states ``(x + 1) / 2`` ``[T, N, B]`` from a zero state, what the harvest carries
        (:func:`echoes.models.esn_kernels.run_half_states`); ``half_inputs``: ``u`` is the half-states
        of the reservoir below."""
        key = ("half_state_bias", half_inputs)
        cached = self._matrix_cache.get(key)
        if cached is None or cached[0] is not w_t or cached[1] is not w_in_t:  # once per harvest, not per block
            shifted = kernels.half_state_bias(w_t, w_in_t, self.bias, u.shape[1], half_inputs)
            cached = self._matrix_cache[key] = (w_t, w_in_t, shifted)
        return kernels.run_half_states(u, w_t, w_in_t, self.bias, self.leak_rate, None, out, half_inputs, cached[2])

    def forward(self, u: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """States ``[B, T, N]`` for inputs ``[B, T, input_size]`` (and an initial state ``[B, N]``)."""
        start = None if initial_state is None else initial_state.T.contiguous()
        return self.run(u.permute(1, 2, 0), initial_state=start).permute(2, 0, 1)
