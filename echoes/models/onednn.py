"""oneDNN's GEMM for a dense input product on CPU: the kernel behind PyTorch's CPU LSTM, reached
through PyTorch's private ops with the weight prepacked once (``torch.ops.mkldnn``); where a build
lacks them or they are slower than ``torch.matmul``, :mod:`echoes.models.esn_kernels` keeps
``torch.matmul``."""

from __future__ import annotations

import torch

from echoes.devices import runs_faster


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
    two copies, small beside the product they serve; the bias is added inside the product.
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
