"""The contract every model trained by Echoes fulfils."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn


class BaseModel(nn.Module):
    """Base of every Echoes model: ``forward(x)`` maps ``[batch, time, features]`` to class logits.

    Subclass it for your own model (``class MyCustomRNN(BaseModel)``), take ``input_size`` and
    ``num_classes`` (plus any keyword arguments of your own, given under ``params`` in
    ``config.yaml``) and it is trained by gradient descent, tracked and reported like the built-ins.
    A constructor argument named ``seed`` receives the run's seed.

    Parameter accounting is by PyTorch's own bookkeeping: ``nn.Parameter``\\ s are what training
    learns (trainable); frozen weights, such as a reservoir, are registered as buffers and only
    count towards the total.
    """

    #: ``"gradient"``: Adam on cross-entropy with early stopping; ``"closed_form"``: the model's ``fit``.
    fit_method: ClassVar[str] = "gradient"
    #: What the report calls the model's kind (colours, legends): set it in your subclass (``"GRU"``).
    kind: ClassVar[str] = "gradient-trained"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A model written before ``kind`` named it ``family`` (now the dataset's task families' word): still read."""
        super().__init_subclass__(**kwargs)
        if "family" in cls.__dict__ and "kind" not in cls.__dict__:
            cls.kind = cls.__dict__["family"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def layer_summaries(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        """Per layer, what a readout of that layer alone would see of clips ``[B, T, F]`` (``[B, d]`` each):
        the per-layer diagnostics (:mod:`echoes.training.layers`) compare the layers by it. None (the
        default): the model has no layers to compare."""
        return None

    def layer_probes(self, seed: int) -> dict[str, Callable[[], list[float]]]:
        """Named measurements of the model itself, one value per layer, each to be called by the
        diagnostics (which record a failing one as missing): none by default."""
        return {}

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def total_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters()) + sum(b.numel() for b in self.buffers())
