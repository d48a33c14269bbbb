"""Gradient-trained recurrent baselines: one LSTM classifier, as one layer (SimpleRNN) or a stack (DeepRNN)."""

from __future__ import annotations

import torch
from torch import nn

from echoes.contracts import params
from echoes.models.base import BaseModel

__all__ = ["BaseModel", "LSTMClassifier", "SimpleRNN", "DeepRNN"]


class LSTMClassifier(BaseModel):
    """Dropout -> ``num_layers`` stacked LSTMs -> last hidden state -> dropout -> Linear -> class logits.

    ``dropout`` is applied to the input frames, between LSTM layers and to the last hidden state:
    the regularisation a tuning grid can choose, like the ESN readout's ridge.
    """

    kind = "LSTM"

    def __init__(
        self, input_size: int, hidden_size: int = 256, num_classes: int = 101, num_layers: int = 1, dropout: float = 0.2
    ) -> None:
        super().__init__()
        params.check(hidden_size=hidden_size, num_layers=num_layers, dropout=dropout)
        self.input_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            input_size, hidden_size, num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0, batch_first=True
        )
        self.output_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.input_dropout(x))
        return self.classifier(self.output_dropout(h_n[-1]))


class SimpleRNN(LSTMClassifier):
    """One LSTM layer (input_size -> hidden_size) over the clip, last hidden state -> Linear."""

    def __init__(self, input_size: int, hidden_size: int = 256, num_classes: int = 101, dropout: float = 0.2) -> None:
        super().__init__(input_size, hidden_size, num_classes, num_layers=1, dropout=dropout)


class DeepRNN(LSTMClassifier):
    """``num_layers`` (2-4) stacked LSTMs with dropout around and between them, last hidden state -> Linear."""

    def __init__(
        self, input_size: int, hidden_size: int = 256, num_classes: int = 101, num_layers: int = 2, dropout: float = 0.3
    ) -> None:
        params.check("DeepRNN", num_layers=num_layers)
        super().__init__(input_size, hidden_size, num_classes, num_layers=num_layers, dropout=dropout)
