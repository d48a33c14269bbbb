"""Echo State Networks: frozen random reservoirs, batched over sequences, under a ridge readout.

Reservoir update (leaky-integrator ESN, as in ReservoirPy and Gallicchio et al.):

    x[t] = (1 - leak_rate) * x[t-1] + leak_rate * tanh(u[t] W_in + x[t-1] W + b)

The parameters have one meaning each, as in ``config.yaml`` and its schema: see the Parameters of
:class:`ReservoirStack`, of which SimpleESN (one reservoir) and DeepESN (1-3) are presets.
:meth:`Reservoir.step` is the equation as written; the harvest computes the same states for all
sequences and steps at once, fast (:mod:`echoes.models.esn_kernels`), held to the reference step
by a test. Weights are drawn with NumPy from the seed: one seed, one reservoir on every device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn

from echoes.models import esn_kernels as kernels
from echoes.models.ridge import ClosedFormModel

POOLINGS = ("last", "mean", "last_mean")


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


def _check(name: str, value: float, low: float, high: float, low_open: bool = False, high_open: bool = False) -> None:
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value}")


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
        if reservoir_size < 1:
            raise ValueError(f"reservoir_size must be >= 1, got {reservoir_size}")
        _check("spectral_radius", spectral_radius, 0.0, float("inf"), low_open=True)
        _check("sparsity", sparsity, 0.0, 1.0, high_open=True)
        _check("leak_rate", leak_rate, 0.0, 1.0, low_open=True)
        _check("input_scaling", input_scaling, 0.0, float("inf"), low_open=True)
        _check("bias_scaling", bias_scaling, 0.0, float("inf"))
        _check("input_connectivity", input_connectivity, 0.0, 1.0, low_open=True)
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

    def forward(self, u: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """States ``[B, T, N]`` for inputs ``[B, T, input_size]`` (and an initial state ``[B, N]``)."""
        start = None if initial_state is None else initial_state.T.contiguous()
        return self.run(u.permute(1, 2, 0), initial_state=start).permute(2, 0, 1)


def pool_states(states: torch.Tensor, pooling: str) -> torch.Tensor:
    """Summarise feature-major states ``[T, N, B]`` as ``[B, N]`` (last, mean) or ``[B, 2N]`` (last_mean)."""
    if pooling == "last":
        return states[-1].T
    if pooling == "mean":
        return states.mean(0).T
    if pooling == "last_mean":
        return torch.cat([states[-1].T, states.mean(0).T], dim=1)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def pooled_size(units: int, pooling: str) -> int:
    """Readout features per reservoir; checked before the readout is built, so a bad value fails by its name."""
    if units < 1:
        raise ValueError(f"reservoir_size must be >= 1, got {units}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    return 2 * units if pooling == "last_mean" else units


class ReservoirStack(ClosedFormModel):
    """``num_reservoirs`` frozen reservoirs in a stack under one ridge readout; only the readout is trained.

    Layer 1 is driven by the input; layer l > 1 by the states of layer l-1 through its own input
    weights (Gallicchio, Micheli & Pedrelli 2017). Layers run one after another over the whole
    sequence, and the readout sees the pooled states of all layers, concatenated. A single
    reservoir is drawn from ``seed``, layer l of a deeper stack from ``(seed, l)``.

    Parameters
    ----------
    input_size, num_classes, seed
        Set by Echoes from the data and the run.
    reservoir_size
        Number of units N of each reservoir.
    num_reservoirs
        Reservoirs in the stack.
    coupling_strength
        Scale of the inter-layer weights by which layer l-1's states drive layer l: entries uniform
        in ``[-coupling_strength, coupling_strength]``, as sparse as ``input_connectivity`` says.
    spectral_radius
        Largest absolute eigenvalue of the recurrent matrix ``W`` itself (not of the leaky
        effective matrix ``(1-a)I + aW``), set exactly by rescaling after an eigenvalue solve.
    sparsity
        Fraction of ``W``'s entries that are exactly zero (0.9 = 10 % connectivity).
    leak_rate
        ``a`` in the update, in (0, 1]; 1 is a plain tanh reservoir, small values integrate slowly.
    input_scaling
        Non-zero ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
    bias_scaling
        Entries of ``b`` are uniform in ``[-bias_scaling, bias_scaling]``.
    ridge
        The readout's ridge (:mod:`echoes.models.ridge`), or ``"auto"``: chosen by GCV.
    pooling
        Which states summarise a clip: ``last``, ``mean`` or ``last_mean`` (the two concatenated).
    input_connectivity
        Fraction of every reservoir's input weights that are non-zero (ReservoirPy's name, meaning
        and default, 0.1; 1 = dense). Which entries survive is drawn after ``W`` and ``b``, so one
        seed gives the same ``W``, ``b`` and surviving ``W_in`` values whatever the connectivity.
    """

    family = "ESN"

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
        input_connectivity: float = 0.1,
    ) -> None:
        if num_reservoirs < 1:
            raise ValueError(f"num_reservoirs must be >= 1, got {num_reservoirs}")
        _check("coupling_strength", coupling_strength, 0.0, float("inf"), low_open=True)
        super().__init__(num_reservoirs * pooled_size(reservoir_size, pooling), num_classes, ridge)
        self.pooling = pooling
        self.block_width: int | None = None  # forces the harvest's block width (benchmarks, tests)
        self.harvest = kernels.BlockedHarvest()
        self.layers = nn.ModuleList(
            Reservoir(
                input_size if layer == 0 else reservoir_size,
                reservoir_size,
                spectral_radius=spectral_radius,
                sparsity=sparsity,
                leak_rate=leak_rate,
                input_scaling=input_scaling if layer == 0 else coupling_strength,
                bias_scaling=bias_scaling,
                input_connectivity=input_connectivity,
                seed=seed if num_reservoirs == 1 else (seed, layer),
            )
            for layer in range(num_reservoirs)
        )

    @property
    def measured_block_widths(self) -> list[int]:
        """The block widths the harvests used so far, one per set of candidate widths met."""
        return list(self.harvest.widths.values())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled states ``[B, num_reservoirs * pooled size]`` of inputs ``[B, T, F]``.

        Each block of sequences goes through every layer before the next; the block width is
        measured once per machine (:class:`echoes.models.esn_kernels.BlockedHarvest`) unless
        ``block_width`` forces one.
        """
        matrices = [(layer.input_matrix(x.device), layer.recurrent_matrix(x.device)) for layer in self.layers]
        return self.harvest(x, matrices, self._encode_block, self.block_width)

    def _encode_block(
        self, block: torch.Tensor, matrices: kernels.Matrices, workspace: kernels.Workspace
    ) -> torch.Tensor:
        """Pooled states of one ``[b, T, F]`` block; layers alternate between two state buffers."""
        states = block.permute(1, 2, 0)  # feature-major [T, F, b]
        if matrices[0][0].is_sparse_csr:  # the sparse input product steps over contiguous [F, b] slices
            states = workspace.tensor("inputs", tuple(states.shape), states).copy_(states)
        pooled = []
        for layer, (reservoir, (w_in_t, w_t)) in enumerate(zip(self.layers, matrices, strict=True)):
            out = workspace.tensor(f"states{layer % 2}", (states.shape[0], reservoir.units, states.shape[2]), states)
            states = reservoir.run(states, w_t, w_in_t=w_in_t, out=out)
            pooled.append(pool_states(states, self.pooling).clone())  # the buffer is overwritten two layers on
        return torch.cat(pooled, dim=1)


class SimpleESN(ReservoirStack):
    """One reservoir (``reservoir_size`` 1000 by default); the readout sees its pooled states.

    Parameters: those of :class:`ReservoirStack` but ``num_reservoirs``.
    """

    def __init__(self, input_size: int, reservoir_size: int = 1000, num_classes: int = 101, **reservoir: Any) -> None:
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=1, **reservoir)

    @property
    def reservoir(self) -> Reservoir:
        return self.layers[0]


class DeepESN(ReservoirStack):
    """A stack of reservoirs, each driven by the one below; the readout sees every layer's states.

    Parameters
    ----------
    reservoir_size
        Units of each reservoir (default 500).
    num_reservoirs
        1-3 (default 3). One reservoir is the single-reservoir point of a depth sweep: the same
        model as a SimpleESN of the same settings and seed.
    **reservoir
        Any other parameter of :class:`ReservoirStack`.
    """

    def __init__(self, input_size: int, reservoir_size: int = 500, num_classes: int = 101, **reservoir: Any) -> None:
        num_reservoirs = reservoir.pop("num_reservoirs", 3)
        if "num_layers" in reservoir:
            raise ValueError("DeepESN has no num_layers: the number of reservoirs is num_reservoirs")
        if not 1 <= num_reservoirs <= 3:
            raise ValueError(f"num_reservoirs must be 1, 2 or 3, got {num_reservoirs}")
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=num_reservoirs, **reservoir)
