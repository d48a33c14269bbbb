"""Linear controls that bracket what recurrence buys: no order at all, and order without recurrence."""

from __future__ import annotations

import torch

from echoes.models.ridge import ClosedFormModel


class MeanOfFrames(ClosedFormModel):
    """Average the frame features over time, then a ridge readout: what a model gets without order.

    Time-reversed classes have the same mean, so the gap between this row and a temporal model
    is what modelling temporal order buys.
    """

    kind = "control"

    def __init__(self, input_size: int, num_classes: int = 101, ridge: float | str = "auto") -> None:
        super().__init__(input_size, num_classes, ridge)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


class AllFrames(ClosedFormModel):
    """All ``num_frames`` frame features concatenated (``T x F``), then a ridge readout.

    A linear temporal filter: it sees order but has no recurrence and no nonlinearity. Between
    :class:`MeanOfFrames` (no order) and a recurrent model, it shows how much of a recurrent
    model's accuracy a linear map of the raw sequence already reaches.
    """

    kind = "control"

    def __init__(self, input_size: int, num_frames: int, num_classes: int = 101, ridge: float | str = "auto") -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        super().__init__(input_size * num_frames, num_classes, ridge)
        self.num_frames = num_frames

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.num_frames:
            raise ValueError(f"AllFrames was built for {self.num_frames} frames per clip, got {x.shape[1]}")
        return x.flatten(1)
