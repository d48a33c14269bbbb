"""Echo State Networks: frozen random reservoirs, batched over sequences, under a ridge readout.

Reservoir update (leaky-integrator ESN, as in ReservoirPy and Gallicchio et al.):

    x[t] = (1 - leak_rate) * x[t-1] + leak_rate * tanh(u[t] W_in + x[t-1] W + b)

Parameters (one meaning each, the same in ``config.yaml``):

- ``reservoir_size``: number of units N of each reservoir.
- ``spectral_radius``: largest absolute eigenvalue of the recurrent matrix ``W`` itself (not of
  the leaky effective matrix ``(1-a)I + aW``), set exactly by rescaling after an eigenvalue solve.
- ``sparsity``: fraction of ``W``'s entries that are exactly zero (0.9 = 10 % connectivity).
- ``leak_rate``: ``a`` above, in (0, 1]; 1 is a plain tanh reservoir, small values integrate slowly.
- ``input_scaling``: ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
- ``bias_scaling``: ``b`` entries are uniform in ``[-bias_scaling, bias_scaling]``.
- ``coupling_strength`` (DeepESN): scale of the weights by which layer l-1's states drive layer l.
- ``ridge``: see :mod:`echoes.models.ridge`; ``pooling``: which states summarise a clip
  (``last``, ``mean`` or ``last_mean``, the two concatenated).

All sequences of a batch advance together, stored feature-major (``[T, N, B]``: a batch is a
block of columns). The input projection of every time step is one batched GEMM; then each step is
one product of ``W^T`` with the ``[N, B]`` states, accumulated into that step's projection. On CPU
a reservoir at most ``SPARSE_MAX_DENSITY`` dense keeps ``W^T`` in CSR and advances blocks of
sequences whose ``[N, b]`` states stay in cache (``SPARSE_BLOCK_BYTES``) while the sparse product
streams over them; denser reservoirs, and any on GPU, use the dense product over the whole batch
(measured in ``benchmarks/esn_speed.py``, figures in ``benchmarks/README.md``).
``Reservoir.recurrent_format`` (``auto``, ``dense`` or ``csr``) forces one. Both give the same
states up to float32 rounding. Weights are drawn with NumPy from the seed, so the same seed gives
the same reservoir on every device.

SimpleESN and DeepESN are two presets of one :class:`ReservoirStack`: a stack of one reservoir,
and of ``num_reservoirs`` (1-3).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn

from echoes.models.ridge import ClosedFormModel

POOLINGS = ("last", "mean", "last_mean")
SPARSE_MAX_DENSITY = 0.15
SPARSE_BLOCK_BYTES = 2**20


def spectral_radius(matrix: np.ndarray, rng: np.random.Generator | None = None) -> float:
    """Largest absolute eigenvalue; ARPACK for large matrices, a dense solve for small ones."""
    n = matrix.shape[0]
    if n <= 256:
        return float(np.abs(np.linalg.eigvals(matrix)).max())
    v0 = (rng or np.random.default_rng(0)).standard_normal(n)
    values = scipy.sparse.linalg.eigs(matrix, k=1, which="LM", v0=v0, tol=1e-10, return_eigenvectors=False)
    return float(np.abs(values).max())


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


RECURRENT_FORMATS = ("auto", "dense", "csr")


def prefers_csr(weights: torch.Tensor, device: torch.device) -> bool:
    """Whether ``W``'s CSR product beats the dense one there: on CPU, at most ``SPARSE_MAX_DENSITY`` dense."""
    return device.type == "cpu" and int(torch.count_nonzero(weights)) <= SPARSE_MAX_DENSITY * weights.numel()


def _check(name: str, value: float, low: float, high: float, low_open: bool = False, high_open: bool = False) -> None:
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value}")


class Reservoir(nn.Module):
    """One frozen leaky-tanh reservoir; its weights are buffers (frozen), not parameters."""

    def __init__(
        self,
        input_size: int,
        reservoir_size: int = 1000,
        spectral_radius: float = 0.9,
        sparsity: float = 0.9,
        leak_rate: float = 0.3,
        input_scaling: float = 0.1,
        bias_scaling: float = 0.1,
        seed: int | tuple[int, ...] = 0,
    ) -> None:
        super().__init__()
        if reservoir_size < 1:
            raise ValueError(f"reservoir_size must be >= 1, got {reservoir_size}")
        _check("spectral_radius", spectral_radius, 0.0, float("inf"), low_open=True)
        _check("sparsity", sparsity, 0.0, 1.0, high_open=True)
        _check("leak_rate", leak_rate, 0.0, 1.0, low_open=True)
        _check("input_scaling", input_scaling, 0.0, float("inf"), low_open=True)
        _check("bias_scaling", bias_scaling, 0.0, float("inf"))
        rng = np.random.default_rng(seed)
        self.leak_rate = leak_rate
        self.recurrent_format = "auto"  # or "dense" / "csr": forces the form of W^T (benchmarks, tests)
        self._recurrent_cache: tuple | None = None
        self.register_load_state_dict_post_hook(lambda module, _: module.forget_recurrent_matrix())
        self.register_buffer(
            "W_in", torch.from_numpy(rng.uniform(-input_scaling, input_scaling, (input_size, reservoir_size))).float()
        )
        self.register_buffer(
            "W", torch.from_numpy(recurrent_weights(reservoir_size, spectral_radius, sparsity, rng)).float()
        )
        self.register_buffer("bias", torch.from_numpy(rng.uniform(-bias_scaling, bias_scaling, reservoir_size)).float())

    @property
    def units(self) -> int:
        return self.W.shape[0]

    def forget_recurrent_matrix(self) -> None:
        """Drop the cached ``W^T``: ``W`` was loaded or moved (the only ways a frozen reservoir changes)."""
        self._recurrent_cache = None

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Reservoir:
        self.forget_recurrent_matrix()  # .to(), .float(), .cuda() ... may give W new storage
        return super()._apply(fn, *args, **kwargs)

    def recurrent_matrix(self, device: torch.device) -> torch.Tensor:
        """``W^T`` in the form whose product is fastest on ``device`` (dense, or CSR; see ``recurrent_format``).

        Built once per device and format, so that classifying one small batch does not pay a CSR
        conversion each time; loading or moving the weights drops it.
        """
        if self.recurrent_format not in RECURRENT_FORMATS:
            raise ValueError(f"recurrent_format must be one of {RECURRENT_FORMATS}, got {self.recurrent_format!r}")
        key = (device, self.recurrent_format)
        if self._recurrent_cache is None or self._recurrent_cache[0] != key:
            auto = self.recurrent_format == "auto"
            csr = prefers_csr(self.W, device) if auto else self.recurrent_format == "csr"
            transposed = self.W.T.contiguous()
            if csr:
                with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": we test what we use
                    warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
                    transposed = transposed.to_sparse_csr()
            self._recurrent_cache = key, transposed
        return self._recurrent_cache[1]

    def run(
        self, u: torch.Tensor, w_t: torch.Tensor | None = None, initial_state: torch.Tensor | None = None
    ) -> torch.Tensor:
        """States ``[T, N, B]`` for feature-major inputs ``[T, input_size, B]`` (``w_t``: ``recurrent_matrix``).

        Each step works in place on its slot of the input projection, which becomes the state
        buffer: the harvest holds one ``[T, N, B]`` tensor.
        """
        w_t = self.recurrent_matrix(u.device) if w_t is None else w_t
        states = torch.matmul(self.W_in.T, u).add_(self.bias[:, None])  # W_in^T u[t] + b for every t at once
        state = torch.zeros_like(states[0]) if initial_state is None else initial_state
        a = self.leak_rate
        for t in range(states.shape[0]):
            # x[t] = (1 - a) x[t-1] + a tanh(W_in^T u[t] + b + W^T x[t-1]), in place in states[t]
            pre = torch.addmm(states[t], w_t, state, out=states[t]).tanh_()
            state = torch.lerp(state, pre, a, out=pre) if a < 1 else pre
        return states

    def forward(self, u: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """States ``[B, T, N]`` for inputs ``[B, T, input_size]`` (and an initial state ``[B, N]``)."""
        start = None if initial_state is None else initial_state.T.contiguous()
        return self.run(u.permute(1, 2, 0), initial_state=start).permute(2, 0, 1)


def harvest_blocks(x: torch.Tensor, matrices: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``[B, T, F]`` inputs as feature-major ``[T, F, b]`` blocks.

    For the CSR product ``b`` is the largest power of two (at least 32) whose ``[N, b]`` float32
    states fit in ``SPARSE_BLOCK_BYTES`` (half a core's L2 cache): rows of a power-of-two number
    of floats stay aligned to vector registers and cache lines, which the sparse product needs
    (at 4000 units blocks of 65 sequences took 1.6 times as long as blocks of 64). The dense
    product takes the whole batch.
    """
    sparse = [w.shape[0] for w in matrices if w.is_sparse_csr]
    size = 2 ** max(5, (SPARSE_BLOCK_BYTES // (4 * max(sparse))).bit_length() - 1) if sparse else len(x)
    return tuple(block.permute(1, 2, 0) for block in x.split(size))


def pool_states(states: torch.Tensor, pooling: str) -> torch.Tensor:
    """Summarise feature-major states ``[T, N, B]`` as ``[B, N]`` (last, mean) or ``[B, 2N]`` (last_mean)."""
    if pooling == "last":
        return states[-1].T
    if pooling == "mean":
        return states.mean(0).T
    if pooling == "last_mean":
        return torch.cat([states[-1].T, states.mean(0).T], dim=1)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def _check_readout_inputs(reservoir_size: int, pooling: str) -> None:
    """Checked before the readout is built, so a bad value fails with its own name."""
    if reservoir_size < 1:
        raise ValueError(f"reservoir_size must be >= 1, got {reservoir_size}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def pooled_size(units: int, pooling: str) -> int:
    return 2 * units if pooling == "last_mean" else units


class ReservoirStack(ClosedFormModel):
    """``num_reservoirs`` frozen reservoirs in a stack under one ridge readout; only the readout is trained.

    Layer 1 is driven by the input; layer l > 1 by the states of layer l-1 through input weights
    uniform in ``[-coupling_strength, coupling_strength]`` (Gallicchio, Micheli & Pedrelli 2017).
    Layers run one after another over the whole sequence, and the readout sees the pooled states of
    all layers, concatenated. A single reservoir is drawn from ``seed``, layer l of a deeper stack
    from ``(seed, l)``.
    """

    def __init__(
        self,
        input_size: int,
        reservoir_size: int = 1000,
        num_classes: int = 101,
        num_reservoirs: int = 1,
        coupling_strength: float = 0.5,
        spectral_radius: float = 0.9,
        sparsity: float = 0.9,
        leak_rate: float = 0.3,
        input_scaling: float = 0.1,
        bias_scaling: float = 0.1,
        ridge: float | str = "auto",
        pooling: str = "last_mean",
        seed: int = 0,
    ) -> None:
        if num_reservoirs < 1:
            raise ValueError(f"num_reservoirs must be >= 1, got {num_reservoirs}")
        _check("coupling_strength", coupling_strength, 0.0, float("inf"), low_open=True)
        _check_readout_inputs(reservoir_size, pooling)
        super().__init__(num_reservoirs * pooled_size(reservoir_size, pooling), num_classes, ridge)
        self.pooling = pooling
        self.layers = nn.ModuleList(
            Reservoir(
                input_size if layer == 0 else reservoir_size,
                reservoir_size,
                spectral_radius,
                sparsity,
                leak_rate,
                input_scaling if layer == 0 else coupling_strength,
                bias_scaling,
                seed=seed if num_reservoirs == 1 else (seed, layer),
            )
            for layer in range(num_reservoirs)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled states ``[B, num_reservoirs * pooled size]`` of inputs ``[B, T, F]``.

        The one place where the harvest is blocked: each block of sequences (sized for the
        recurrent product, see :func:`harvest_blocks`) goes through every layer before the next.
        """
        matrices = [reservoir.recurrent_matrix(x.device) for reservoir in self.layers]
        return torch.cat([self._encode_block(block, matrices) for block in harvest_blocks(x, matrices)])

    def _encode_block(self, states: torch.Tensor, matrices: list[torch.Tensor]) -> torch.Tensor:
        pooled = []
        for reservoir, w_t in zip(self.layers, matrices, strict=True):
            states = reservoir.run(states, w_t)
            pooled.append(pool_states(states, self.pooling))
        return torch.cat(pooled, dim=1)


class SimpleESN(ReservoirStack):
    """One reservoir; the readout sees its pooled states. ``reservoir`` settings: see :class:`ReservoirStack`."""

    def __init__(self, input_size: int, reservoir_size: int = 1000, num_classes: int = 101, **reservoir: Any) -> None:
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=1, **reservoir)

    @property
    def reservoir(self) -> Reservoir:
        return self.layers[0]


class DeepESN(ReservoirStack):
    """A stack of ``num_reservoirs`` (1-3) reservoirs; ``reservoir`` settings: see :class:`ReservoirStack`.

    One reservoir is the single-reservoir point of a depth sweep (the same model as a SimpleESN of
    the same settings and seed). ``num_layers`` is the former name of ``num_reservoirs``, still accepted.
    """

    def __init__(
        self,
        input_size: int,
        reservoir_size: int = 500,
        num_classes: int = 101,
        num_reservoirs: int | None = None,
        num_layers: int | None = None,
        **reservoir: Any,
    ) -> None:
        if num_layers is not None and num_reservoirs is not None:
            raise ValueError("num_layers is the former name of num_reservoirs: give num_reservoirs only")
        num_reservoirs = num_layers if num_reservoirs is None else num_reservoirs
        num_reservoirs = 3 if num_reservoirs is None else num_reservoirs
        if not 1 <= num_reservoirs <= 3:
            raise ValueError(f"num_reservoirs must be 1, 2 or 3, got {num_reservoirs}")
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=num_reservoirs, **reservoir)
