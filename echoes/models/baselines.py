"""Controls that put the temporal models' numbers in context."""

from __future__ import annotations

import torch

from echoes.models.ridge import ClosedFormModel


class MeanOfFrames(ClosedFormModel):
    """Average the frame features over time, then a ridge readout: what a model gets without order.

    Time-reversed classes have the same mean, so the gap between this row and a temporal model
    is what modelling temporal order buys.
    """

    def __init__(self, input_size: int, num_classes: int = 101, ridge: float | str = "auto") -> None:
        super().__init__(input_size, num_classes, ridge)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)
