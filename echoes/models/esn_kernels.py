"""How an ESN's harvest runs fast: the forms of its matrices, the step loop, the buffers.

:mod:`echoes.models.esn` says *what* a reservoir computes (the equation, in a plain reference
step); this module says *how* a batch of sequences is pushed through it quickly. Every choice
here changes speed only, never the result beyond float32 rounding (a test holds every form and
width to the reference step), and the choices that depend on timing are made once per machine
and kept (:class:`echoes.measured.MeasuredChoices`), so that two runs of one seed give identical bytes.

- **Layout.** All sequences of a batch advance together, feature-major (``[T, N, B]``: a batch is
  a block of columns). Each step is one product of ``W^T`` with the ``[N, B]`` states,
  accumulated into that step's input projection ``W_in^T u[t] + b``.
- **Forms** of ``W^T`` and ``W_in^T``: dense; CSR with int32 indices (less to stream per product)
  for a matrix at most ``SPARSE_MAX_DENSITY`` dense on CPU; on CPU a dense ``W_in^T`` may go
  through oneDNN's GEMM with the weight prepacked (:func:`project_onednn`) where it runs faster
  than ``torch.matmul``; on CUDA whichever of dense and CSR a micro-benchmark finds faster. A
  sparse ``W_in`` projects step by step (each product over one step's ``[F, B]`` inputs while they
  are in cache); a dense one projects every step at once.
- **Blocks.** The harvest advances blocks of sequences (:mod:`echoes.models.harvest`: how wide,
  and on how many threads); each block's buffers are reused by the next (:class:`Workspace`).
- **tanh** is computed as ``2 sigmoid(2z) - 1`` (exact up to float32 rounding): PyTorch's
  vectorised ``tanh`` costs several times its ``sigmoid`` on the CPUs measured.
- **Half-states.** The recurrence carries ``h = (x + 1) / 2`` instead of the states ``x``: then
  ``x[t] = (1 - a) x[t-1] + a tanh(z)`` is ``h[t] = lerp(h[t-1], sigmoid(2z), a)``, one pass over
  the step's ``[N, B]`` after the sigmoid instead of three, and ``W^T x = 2 W^T h - W^T 1`` folds
  the shift into the bias (:func:`run_half_states`). Pooling and the trajectory turn them back
  (:func:`to_states`, linear: the last or mean half-state gives the last or mean state).
- **Inputs** of a CSR input product are turned feature-major (``[b, T, F]`` to ``[T, F, b]``) in two
  copies: to time-major first (whole rows of F), then every step's ``[b, F]`` transposed
  (:func:`feature_major`); a single permuted copy gathers one float per cache line.

Measured rates and ratios are in ``benchmarks/README.md`` (``benchmarks/esn_speed.py``), not here:
they move with the CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from echoes.devices import runs_faster
from echoes.measured import MeasuredChoices, machine_key
from echoes.models.onednn import onednn_available, onednn_is_faster, project_onednn, to_onednn

SPARSE_MAX_DENSITY = 0.15
RECURRENT_FORMATS = ("auto", "dense", "csr")
INPUT_FORMATS = (*RECURRENT_FORMATS, "onednn")

Matrices = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (W_in^T, W^T) in their forms
EncodeBlock = Callable[[torch.Tensor, Matrices, "Workspace"], torch.Tensor]


def density(matrix: torch.Tensor) -> float:
    return int(torch.count_nonzero(matrix)) / matrix.numel()


def to_csr(matrix: torch.Tensor) -> torch.Tensor:
    """CSR form with int32 indices where they fit: int64 indices are converted on every product."""
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
    their device (:func:`echoes.devices.runs_faster`)."""
    x = torch.full((dense.shape[1], columns), 0.5, device=dense.device, dtype=dense.dtype)  # no draw from torch's RNG
    return runs_faster(lambda: csr @ x, lambda: dense @ x, repeats, x.device)


def fastest_form(name: str, transposed: torch.Tensor, bias: torch.Tensor, device: torch.device) -> str:
    """The form of ``W^T`` (``name`` "W") or ``W_in^T`` ("W_in") whose product runs fastest on ``device``.

    On CPU a matrix at most ``SPARSE_MAX_DENSITY`` dense is CSR; a denser ``W_in^T`` goes through
    oneDNN where it beats ``torch.matmul`` (timed once per machine and shape). On CUDA a sparse
    matrix is CSR where a micro-benchmark on that GPU finds it faster; elsewhere dense.
    """
    sparse = density(transposed) <= SPARSE_MAX_DENSITY
    shape = "x".join(map(str, transposed.shape))
    if device.type == "cpu" and sparse:
        return "csr"
    if device.type == "cuda" and sparse:
        key = f"{machine_key(device)} | csr {shape} {density(transposed):.4f}"
        csr = MeasuredChoices().get_or_measure(key, lambda: csr_is_faster(transposed, to_csr(transposed)))
        return "csr" if csr else "dense"
    usable = device.type == "cpu" and transposed.dtype == torch.float32 and onednn_available()
    if name == "W_in" and usable:
        try:
            key = f"{machine_key(device)} | onednn {shape}"
            faster = MeasuredChoices().get_or_measure(key, lambda: onednn_is_faster(transposed, bias))
            return "onednn" if faster else "dense"
        except RuntimeError as error:  # private ops (see project_onednn): a build may have them and refuse
            warnings.warn(f"oneDNN's linear failed ({error}); the input product uses torch.matmul", stacklevel=2)
    return "dense"


def in_form(transposed: torch.Tensor, form: str) -> torch.Tensor:
    """``transposed`` as the tensor its form multiplies with: dense, CSR or oneDNN's packed weight."""
    return {"csr": to_csr, "onednn": to_onednn}.get(form, lambda dense: dense)(transposed)


def matrix_in_form(
    cache: dict, name: str, weight: torch.Tensor, form: str, bias: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """``weight^T`` (``name`` "W" or "W_in") in ``form`` (``auto``: :func:`fastest_form`), built once
    per device and form and kept in ``cache``, so that classifying one small batch does not pay a
    conversion each time."""
    attribute, forms = ("recurrent_format", RECURRENT_FORMATS) if name == "W" else ("input_format", INPUT_FORMATS)
    if form not in forms:
        raise ValueError(f"{attribute} must be one of {forms}, got {form!r}")
    key = (device, form)
    cached = cache.get(name)
    if cached is None or cached[0] != key:
        transposed = weight.T.contiguous()
        if form == "auto":
            form = fastest_form(name, transposed, bias, device)
        cache[name] = key, in_form(transposed, form)
    return cache[name][1]


def run_reservoir(
    u: torch.Tensor,
    w_t: torch.Tensor,
    w_in_t: torch.Tensor,
    bias: torch.Tensor,
    leak_rate: float,
    initial_state: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """States ``[T, N, B]`` of one reservoir for feature-major inputs ``[T, F, B]``, in ``out`` if given
    (:func:`run_half_states`, then one pass back to states)."""
    half = None if initial_state is None else (initial_state + 1) / 2
    return to_states(run_half_states(u, w_t, w_in_t, bias, leak_rate, half, out))


def to_states(half: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """States ``x = 2 h - 1`` of half-states ``h``, in one pass (in place unless ``out`` is given)."""
    minus_one, one = half.new_full((), -1.0), half.new_full((), 1.0)
    return torch.lerp(minus_one, one, half, out=half if out is None else out)


def row_sums(matrix_t: torch.Tensor, columns: int, bias: torch.Tensor) -> torch.Tensor:
    """``matrix_t @ 1`` ``[N]`` of a ``W^T`` or ``W_in^T`` (``columns`` wide) in any of its forms, like ``bias``."""
    ones = bias.new_ones((1, columns, 1))
    if matrix_t.is_mkldnn:
        return project_onednn(matrix_t, ones, torch.zeros_like(bias), bias.new_empty((1, len(bias), 1)))[0, :, 0]
    return (matrix_t @ ones[0])[:, 0]


def half_state_bias(
    w_t: torch.Tensor, w_in_t: torch.Tensor, bias: torch.Tensor, input_size: int, half_inputs: bool
) -> torch.Tensor:
    """The bias of the half-state recurrence (:func:`run_half_states`): ``b - W^T 1``, and for
    half-state inputs also ``- W_in^T 1``. A function of the matrices alone: a harvest computes it
    once (:meth:`echoes.models.reservoir.Reservoir.run_half`), not per block."""
    shifted = bias - row_sums(w_t, w_t.shape[0], bias)
    return shifted - row_sums(w_in_t, input_size, bias) if half_inputs else shifted


def run_half_states(
    u: torch.Tensor,
    w_t: torch.Tensor,
    w_in_t: torch.Tensor,
    bias: torch.Tensor,
    leak_rate: float,
    initial_half: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    half_inputs: bool = False,
    shifted: torch.Tensor | None = None,
) -> torch.Tensor:
    """Half-states ``h = (x + 1) / 2`` ``[T, N, B]`` of one reservoir for feature-major inputs
    ``[T, F, B]`` (or, with ``half_inputs``, the half-states of the layer below), in ``out`` if given.

    Each step works in place on its slot of the states, which first holds the step's input
    projection: the harvest holds one ``[T, N, B]`` tensor. The input product runs for every step
    first, then the recurrence, so that each matrix is alone in cache. With ``x = 2 h - 1``,
    ``z = W_in^T u + b + W^T x = W_in^T u + (b - W^T 1) + 2 W^T h``, and for half-state inputs
    ``W_in^T u = 2 W_in^T h_in - W_in^T 1``: the shifts are one bias (``shifted``, if the caller has
    it: :func:`half_state_bias`).
    """
    shape = (u.shape[0], w_t.shape[0], u.shape[2])
    states = u.new_empty(shape) if out is None else out
    if states.shape != shape or not states.is_contiguous():
        raise ValueError(f"out must be a contiguous tensor of shape {shape}, got {tuple(states.shape)}")
    if shifted is None:
        shifted = half_state_bias(w_t, w_in_t, bias, u.shape[1], half_inputs)
    scale = 2.0 if half_inputs else 1.0
    if w_in_t.is_sparse_csr:  # step by step, each product over one step's [F, B] inputs
        u = u.contiguous()
        for t in range(u.shape[0]):
            torch.addmm(shifted[:, None], w_in_t, u[t], alpha=scale, out=states[t])
    elif w_in_t.is_mkldnn:
        project_onednn(w_in_t, u, shifted / scale, states)
        if half_inputs:
            states.mul_(scale)
    else:
        torch.matmul(w_in_t, u, out=states)  # every t at once
        if half_inputs:
            states.mul_(scale)
        states.add_(shifted[:, None])
    half = states.new_full(shape[1:], 0.5) if initial_half is None else initial_half
    for t in range(states.shape[0]):
        slot = states[t]
        # slot = sigmoid(2 z) = (tanh(z) + 1) / 2, with 2 z = 2 slot + 4 W^T h[t-1]; then the leak,
        # x[t] = (1 - a) x[t-1] + a tanh(z), is h[t] = (1 - a) h[t-1] + a slot
        torch.addmm(slot, w_t, half, beta=2.0, alpha=4.0, out=slot).sigmoid_()
        half = torch.lerp(half, slot, leak_rate, out=slot) if leak_rate < 1 else slot
    return states


def feature_major(block: torch.Tensor, workspace: Workspace, name: str, reverse: bool = False) -> torch.Tensor:
    """``block`` ``[b, T, F]`` as a contiguous ``[T, F, b]`` (steps in reverse order if ``reverse``),
    in ``workspace``'s buffers: a copy to time-major ``[T, b, F]`` (whole rows of F), then one copy
    that transposes every step's ``[b, F]``; half the time of one permuted copy (benchmarks/README.md)."""
    steps = block.shape[1]
    time_major = workspace.tensor(f"{name}.time_major", (steps, len(block), block.shape[2]), block)
    time_major.copy_(block.transpose(0, 1))
    inputs = workspace.tensor(name, (steps, block.shape[2], len(block)), block)
    return inputs.copy_((time_major.flip(0) if reverse else time_major).transpose(1, 2))


class Workspace:
    """Buffers reused from one harvest block to the next: a fresh ``[T, N, b]`` tensor per block
    costs page faults on first touch."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def tensor(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self._buffers[name] = like.new_empty(shape)
        return buffer
