"""A user's own model, defined outside Echoes, as the README shows it."""

import torch
from torch import nn

from echoes.models.base import BaseModel


class MyCustomRNN(BaseModel):
    """GRU over the clip, last time step -> Linear."""

    kind = "GRU"  # what the report calls its kind

    def __init__(self, input_size: int, hidden_size: int, num_classes: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


class DivergingRNN(BaseModel):
    """A model whose loss is NaN from the first batch: the workflow must report it, not stop."""

    def __init__(self, input_size: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(input_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(1)) * float("nan")
