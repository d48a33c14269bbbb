"""Echo State Networks: frozen random reservoirs, batched over sequences, under a ridge readout.

Reservoir update (leaky-integrator ESN, as in ReservoirPy and Gallicchio et al.):

    x[t] = (1 - leak_rate) * x[t-1] + leak_rate * tanh(u[t] W_in + x[t-1] W + b)

Parameters (one meaning each, the same in ``config.yaml``):

- ``reservoir_size``: number of units N of each reservoir.
- ``spectral_radius``: largest absolute eigenvalue of the recurrent matrix ``W`` itself (not of
  the leaky effective matrix ``(1-a)I + aW``), set exactly by rescaling after an eigenvalue solve.
- ``sparsity``: fraction of ``W``'s entries that are exactly zero (0.9 = 10 % connectivity).
- ``input_connectivity``: fraction of ``W_in``'s entries that are non-zero (ReservoirPy's name,
  meaning and default, 0.1; 1 = dense). Which entries survive is drawn after ``W`` and ``b``, so one
  seed gives the same ``W``, ``b`` and surviving ``W_in`` values whatever the connectivity. The
  default was kept because the workflow's protocol found no loss on validation (README, "Models").
- ``leak_rate``: ``a`` above, in (0, 1]; 1 is a plain tanh reservoir, small values integrate slowly.
- ``input_scaling``: non-zero ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
- ``bias_scaling``: ``b`` entries are uniform in ``[-bias_scaling, bias_scaling]``.
- ``coupling_strength`` (DeepESN): scale of the weights by which layer l-1's states drive layer l
  (their connectivity is ``input_connectivity`` too: every reservoir's input weights share it).
- ``ridge``: see :mod:`echoes.models.ridge`; ``pooling``: which states summarise a clip
  (``last``, ``mean`` or ``last_mean``, the two concatenated).

All sequences of a batch advance together, stored feature-major (``[T, N, B]``: a batch is a
block of columns). Each step is one product of ``W^T`` with the ``[N, B]`` states, accumulated
into that step's input projection ``W_in^T u[t] + b``. A dense ``W_in`` projects every step at
once (one GEMM; on CPU through oneDNN with the weight prepacked where a micro-benchmark at first
use finds it faster than ``torch.matmul``, whose MKL kernel ran at half oneDNN's rate on the AMD
EPYC measured); a sparse one projects step by step, so that each product streams over one step's
``[F, B]`` inputs while they are in cache. On CPU a matrix at most ``SPARSE_MAX_DENSITY`` dense
is kept in CSR (int32 indices: less to stream per product) and the harvest advances blocks of
sequences, as wide as harvests fastest on this machine (:meth:`ReservoirStack.encode`, timed once
per model; widths differ by float32 rounding at most); denser matrices use the dense product over
the whole batch. On a GPU each matrix takes the form that a micro-benchmark on that device finds
faster (:func:`csr_is_faster`). Measured in ``benchmarks/esn_speed.py``, figures in
``benchmarks/README.md``. ``Reservoir.recurrent_format`` and ``Reservoir.input_format``
(``auto``, ``dense`` or ``csr``; ``onednn`` too for the input) force one. All forms give the same
states up to float32 rounding. ``tanh(z)`` is computed as ``2 sigmoid(2z) - 1`` (exact up to
float32 rounding): on the CPUs measured, PyTorch's vectorised ``tanh`` costs about nine times its
``sigmoid``, a quarter of a step at 1000 units. Weights are drawn with NumPy from the seed, so the same seed gives the
same reservoir on every device.

SimpleESN and DeepESN are two presets of one :class:`ReservoirStack`: a stack of one reservoir,
and of ``num_reservoirs`` (1-3).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn

from echoes.devices import runs_faster
from echoes.models.ridge import ClosedFormModel

POOLINGS = ("last", "mean", "last_mean")
SPARSE_MAX_DENSITY = 0.15
BLOCK_WIDTHS = (32, 64, 128, 256)


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


RECURRENT_FORMATS = ("auto", "dense", "csr")
INPUT_FORMATS = (*RECURRENT_FORMATS, "onednn")


def density(matrix: torch.Tensor) -> float:
    return int(torch.count_nonzero(matrix)) / matrix.numel()


def to_csr(matrix: torch.Tensor) -> torch.Tensor:
    """CSR form with int32 indices where they fit: less to stream per product (at 1000 units and
    32 sequences a product took 0.084 ms against 0.096 ms with int64 indices)."""
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": we test what we use
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        csr = matrix.to_sparse_csr()
        if csr.values().numel() >= 2**31:
            return csr
        return torch.sparse_csr_tensor(
            csr.crow_indices().int(), csr.col_indices().int(), csr.values(), csr.shape, check_invariants=False
        )


def csr_is_faster(dense: torch.Tensor, csr: torch.Tensor, columns: int = 256, repeats: int = 7) -> bool:
    """Whether ``csr @ X`` beats ``dense @ X`` for an ``X`` of ``columns`` columns, timed in turn on
    their device (:func:`echoes.devices.runs_faster`): the rule for devices without a measured one."""
    x = torch.full((dense.shape[1], columns), 0.5, device=dense.device, dtype=dense.dtype)  # no draw from torch's RNG
    return runs_faster(lambda: csr @ x, lambda: dense @ x, repeats, x.device)


def onednn_available() -> bool:
    """Whether this PyTorch build has oneDNN's prepacked linear (x86 and ARM builds do)."""
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


def to_onednn(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` (``[N, F]``, float32 on CPU) prepacked as oneDNN's linear weight (an opaque tensor)."""
    return torch.ops.mkldnn._reorder_linear_weight(matrix, 256)  # the row count is a hint; any count works


def project_onednn(packed: torch.Tensor, u: torch.Tensor, bias: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out[t] = W_in^T u[t] + b`` for feature-major ``u`` ``[T, F, B]`` with oneDNN's GEMM.

    oneDNN multiplies rows, so the inputs go to ``[T, B, F]`` and the result back to ``[T, N, B]``:
    two copies, each a small fraction of the product they serve (at 1000 units, 1024 sequences:
    3 + 16 ms around 97 ms, against 159 ms for ``torch.matmul``, whose MKL kernel runs at half
    oneDNN's rate on the AMD EPYC measured; the bias is added inside the product).
    """
    steps, features, batch = u.shape
    rows = u.transpose(1, 2).contiguous().view(steps * batch, features)
    projected = torch.ops.mkldnn._linear_pointwise(rows, packed, bias, "none", [], "")
    return out.copy_(projected.view(steps, batch, -1).transpose(1, 2))


def onednn_is_faster(dense: torch.Tensor, bias: torch.Tensor, columns: int = 256, repeats: int = 7) -> bool:
    """Whether the input projection runs faster through oneDNN (:func:`project_onednn`, copies
    included) than through ``torch.matmul`` on this CPU, for ``columns`` sequences of one step."""
    u = torch.full((1, dense.shape[1], columns), 0.5, dtype=dense.dtype)
    out = u.new_empty((1, dense.shape[0], columns))
    packed = to_onednn(dense)

    def onednn() -> None:
        project_onednn(packed, u, bias, out)

    def matmul() -> None:
        torch.matmul(dense, u, out=out).add_(bias[:, None])

    return runs_faster(onednn, matmul, repeats)


def prefers_csr(matrix: torch.Tensor, device: torch.device) -> bool:
    """Whether ``matrix``'s CSR product beats its dense one on ``device``, where ``matrix`` lives.

    On CPU, a measured rule: at most ``SPARSE_MAX_DENSITY`` dense. Elsewhere (CUDA), measured on
    the spot by :func:`csr_is_faster`, since the break-even moves with the GPU.
    """
    if density(matrix) > SPARSE_MAX_DENSITY:
        return False
    if device.type == "cpu":
        return True
    if device.type != "cuda":
        return False
    return csr_is_faster(matrix, to_csr(matrix))  # timed where the matrix lives: on that device


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
        input_connectivity: float = 0.1,
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
        return density(self.W_in)

    def forget_recurrent_matrix(self) -> None:
        """Drop the cached ``W^T`` and ``W_in^T``: weights loaded or moved (how a frozen reservoir changes)."""
        self._matrix_cache = {}

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Reservoir:
        self.forget_recurrent_matrix()  # .to(), .float(), .cuda() ... may give W new storage
        return super()._apply(fn, *args, **kwargs)

    def recurrent_matrix(self, device: torch.device) -> torch.Tensor:
        """``W^T`` in the form whose product is fastest on ``device`` (dense, or CSR; see ``recurrent_format``).

        Built once per device and format, so that classifying one small batch does not pay a CSR
        conversion each time; loading or moving the weights drops it.
        """
        return self._matrix("W", device)

    def input_matrix(self, device: torch.device) -> torch.Tensor:
        """``W_in^T`` in the form whose product is fastest on ``device``: dense, CSR, or on CPU
        oneDNN's prepacked weight where its GEMM beats ``torch.matmul`` (see ``input_format``)."""
        return self._matrix("W_in", device)

    def _matrix(self, name: str, device: torch.device) -> torch.Tensor:
        attribute, forms = ("recurrent_format", RECURRENT_FORMATS) if name == "W" else ("input_format", INPUT_FORMATS)
        form = getattr(self, attribute)
        if form not in forms:
            raise ValueError(f"{attribute} must be one of {forms}, got {form!r}")
        key = (device, form)
        cached = self._matrix_cache.get(name)
        if cached is None or cached[0] != key:
            transposed = getattr(self, name).T.contiguous()
            if form == "auto":
                form = self._fastest_form(name, transposed, device)
            matrix = {"csr": to_csr, "onednn": to_onednn}.get(form, lambda dense: dense)(transposed)
            self._matrix_cache[name] = key, matrix
        return self._matrix_cache[name][1]

    def _fastest_form(self, name: str, transposed: torch.Tensor, device: torch.device) -> str:
        if prefers_csr(transposed, device):
            return "csr"
        if name == "W_in" and device.type == "cpu" and transposed.dtype == torch.float32 and onednn_available():
            try:
                return "onednn" if onednn_is_faster(transposed, self.bias) else "dense"
            except RuntimeError as error:  # private ops (see project_onednn): a build may have them and refuse
                warnings.warn(f"oneDNN's linear failed ({error}); the input product uses torch.matmul", stacklevel=2)
        return "dense"

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the cached matrices behind (oneDNN's packed weight has no storage to copy)."""
        return {**super().__getstate__(), "_matrix_cache": {}}

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
        Each step works in place on its slot of the states, which first holds the step's input
        projection: the harvest holds one ``[T, N, B]`` tensor.
        """
        w_t = self.recurrent_matrix(u.device) if w_t is None else w_t
        w_in_t = self.input_matrix(u.device) if w_in_t is None else w_in_t
        bias = self.bias[:, None]
        shape = (u.shape[0], self.units, u.shape[2])
        states = u.new_empty(shape) if out is None else out
        if states.shape != shape or not states.is_contiguous():
            raise ValueError(f"out must be a contiguous tensor of shape {shape}, got {tuple(states.shape)}")
        if w_in_t.is_sparse_csr:  # step by step, each product over one step's [F, B] inputs (see module doc)
            u = u.contiguous()
            for t in range(u.shape[0]):
                torch.addmm(bias, w_in_t, u[t], out=states[t])
        elif w_in_t.is_mkldnn:
            project_onednn(w_in_t, u, self.bias, states)
        else:
            torch.matmul(w_in_t, u, out=states).add_(bias)  # W_in^T u[t] + b for every t at once
        state = torch.zeros_like(states[0]) if initial_state is None else initial_state
        a = self.leak_rate
        for t in range(states.shape[0]):  # W^T alone in cache now, as W_in^T was in the projection
            slot = states[t]
            # slot = sigmoid(2 z), z = W_in^T u[t] + b + W^T x[t-1]; tanh(z) = 2 slot - 1, then the leak:
            # x[t] = (1 - a) x[t-1] + a tanh(z) = 2a slot + (1 - a) x[t-1] - a
            torch.addmm(slot, w_t, state, beta=2.0, alpha=2.0, out=slot).sigmoid_()
            state = slot.mul_(2 * a).add_(state, alpha=1 - a).sub_(a) if a < 1 else slot.mul_(2).sub_(1)
        return states

    def forward(self, u: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """States ``[B, T, N]`` for inputs ``[B, T, input_size]`` (and an initial state ``[B, N]``)."""
        start = None if initial_state is None else initial_state.T.contiguous()
        return self.run(u.permute(1, 2, 0), initial_state=start).permute(2, 0, 1)


def candidate_widths(matrices: list[torch.Tensor], batch: int) -> list[int]:
    """Block widths a harvest of ``batch`` sequences may use with ``matrices`` (the ``W^T`` and
    ``W_in^T`` in use): ``BLOCK_WIDTHS`` below the batch (and the batch itself, if no wider) when
    a CSR product runs on CPU; else only the whole batch (dense products want it wide, a GPU has no
    cache to fit). Powers of two, because rows of a power-of-two number of floats stay aligned to
    vector registers and cache lines (at 4000 units blocks of 65 sequences took 1.6 times as long
    as blocks of 64)."""
    sparse = [matrix for matrix in matrices if matrix.is_sparse_csr]
    if not sparse or sparse[0].device.type != "cpu":
        return [batch]
    return [width for width in BLOCK_WIDTHS if width < batch] + ([batch] if batch <= BLOCK_WIDTHS[-1] else [])


class Workspace:
    """Buffers reused from one harvest block to the next: a fresh ``[T, N, b]`` tensor per block
    costs page faults on first touch (at 1000 units, blocks of 32, 15 % of the harvest)."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def tensor(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffers[name] = like.new_empty(shape)
        return buffer


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
        input_connectivity: float = 0.1,
    ) -> None:
        if num_reservoirs < 1:
            raise ValueError(f"num_reservoirs must be >= 1, got {num_reservoirs}")
        _check("coupling_strength", coupling_strength, 0.0, float("inf"), low_open=True)
        _check_readout_inputs(reservoir_size, pooling)
        super().__init__(num_reservoirs * pooled_size(reservoir_size, pooling), num_classes, ridge)
        self.pooling = pooling
        self.block_width: int | None = None  # forces the harvest's block width (benchmarks, tests)
        self._block_widths: dict[tuple, int] = {}
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
                input_connectivity=input_connectivity,
            )
            for layer in range(num_reservoirs)
        )

    @property
    def measured_block_widths(self) -> list[int]:
        """The block widths the harvests chose so far, one per set of candidate widths met."""
        return list(self._block_widths.values())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled states ``[B, num_reservoirs * pooled size]`` of inputs ``[B, T, F]``.

        The one place where the harvest is blocked: each block of sequences goes through every
        layer before the next. The block width is the one of :func:`candidate_widths` that
        harvested fastest per sequence on this machine, found by the model's first harvest with
        those candidates (every batch wider than ``BLOCK_WIDTHS[-1]`` has the same ones, so a
        harvest in batches of 1024 and a last, shorter one times once): it runs blocks of the
        candidate widths on its own sequences, narrowest first, each against the best so far
        while wider ones get faster (:meth:`_time_widths`; nothing is computed twice), and
        harvests the rest at the best width.

        Measured, not derived from cache sizes, because the best width moves with the CPU: a rule
        sized to half a core's L2 (128 sequences at 2000 units), tuned on an AVX-512 Xeon, ran the
        CSR product at 55 GFLOP/s on an AMD EPYC whose best width, 32, gives 81; and timed on
        the harvest itself, because a product timed alone misses what the step's other work does
        to the caches (it picked 128 sequences at 1000 units in 2 tries of 8, and the harvest ran
        a third slower). Widths change the states by float32 rounding at most (a test holds them
        to 1e-5).
        """
        matrices = [(layer.input_matrix(x.device), layer.recurrent_matrix(x.device)) for layer in self.layers]
        flat = [matrix for pair in matrices for matrix in pair]
        widths = candidate_widths(flat, len(x))
        key = (tuple(widths), *((m.device, m.shape, m.is_sparse_csr and m.values().numel()) for m in flat))
        workspace = Workspace()
        pooled: list[torch.Tensor] = []
        if self.block_width is None and key not in self._block_widths:
            self._block_widths[key] = widths[0] if len(widths) == 1 else self._time_widths(x, widths, matrices, pooled)
        done = sum(len(block) for block in pooled)
        width = self._block_widths[key] if self.block_width is None else self.block_width
        pooled += [self._encode_block(block, matrices, workspace) for block in x[done:].split(width)]
        return torch.cat(pooled)

    def _time_widths(
        self, x: torch.Tensor, widths: list[int], matrices: list[tuple[torch.Tensor, torch.Tensor]], pooled: list
    ) -> int:
        """Harvest the first blocks of ``x`` while timing widths, appending their pooled states to
        ``pooled``; returns the width with the least seconds per sequence.

        Two blocks of the narrowest width, then each next width against the best so far in turn
        (next, best, next, best: a slow spell of a shared host hits both alike), the faster of
        each width's blocks counting, for as long as the wider width wins and the batch lasts.
        Stopping at the first width that loses spares the widest, slowest blocks: the rates
        measured fall on either side of one best width.
        """
        seconds: dict[int, float] = {}
        workspaces: dict[int, Workspace] = {}  # two widths' buffers at most, reused by their blocks
        start = 0

        def harvest(width: int) -> None:
            nonlocal start
            began = time.perf_counter()
            pooled.append(self._encode_block(x[start : start + width], matrices, workspaces[width]))
            seconds[width] = min(seconds.get(width, math.inf), (time.perf_counter() - began) / width)
            start += width

        best = widths[0]
        if 2 * best > len(x):
            return len(x)
        workspaces[best] = Workspace()
        for timed in (best, best):
            harvest(timed)
        for width in widths[1:]:
            if start + 2 * (width + best) > len(x):
                break
            workspaces[width] = Workspace()
            for timed in (width, best, width, best):
                harvest(timed)
            loser, best = (best, width) if seconds[width] < seconds[best] else (width, best)
            del workspaces[loser]
            if best != width:
                break
        return best

    def _encode_block(
        self, block: torch.Tensor, matrices: list[tuple[torch.Tensor, torch.Tensor]], workspace: Workspace
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
