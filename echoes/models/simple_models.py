"""Gradient-trained recurrent baselines: one LSTM layer (SimpleRNN) or a stack of them (DeepRNN)."""

from __future__ import annotations

import torch
from torch import nn

from echoes.models.base import BaseModel

__all__ = ["BaseModel", "SimpleRNN", "DeepRNN"]


class SimpleRNN(BaseModel):
    """LSTM(input_size -> hidden_size) over the clip, last hidden state -> Linear -> class logits."""

    def __init__(self, input_size: int, hidden_size: int = 256, num_classes: int = 101) -> None:
        super().__init__()
        if hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {hidden_size}")
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)
        return self.classifier(h_n[-1])


class DeepRNN(BaseModel):
    """``num_layers`` (2-4) stacked LSTMs with dropout between layers, last hidden state -> Linear."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 256,
        num_classes: int = 101,
        num_layers: int = 2,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if not 2 <= num_layers <= 4:
            raise ValueError(f"num_layers must be in 2..4, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)
        return self.classifier(h_n[-1])
