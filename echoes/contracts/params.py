"""The built-in models' parameters: each one's type, range and meaning, written once.

The config schema's ``$defs`` for these names are generated from :data:`PARAMS`
(:func:`echoes.planning.config.load_schema`), so the workflow refuses a bad value while it parses,
naming the key, without importing PyTorch; the model classes check their arguments with the same
:class:`Param` (:func:`check`), so a Python caller of ``SimpleESN(...)`` meets the same bounds.
Names follow ReservoirPy and the DeepESN papers, one meaning each. A parameter that one class
narrows (``DeepRNN``'s layers) has an entry of its own, ``<Class>.<name>``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One constructor argument's contract: its JSON type, its bounds (inclusive unless ``open``), or its
    choices, and what it means."""

    description: str
    type: str = "number"  # JSON schema: number, integer or boolean
    minimum: float | None = None
    maximum: float | None = None
    open_below: bool = False
    open_above: bool = False
    choices: tuple[Any, ...] | None = None
    auto: bool = False  # also accepts the string "auto" (a ridge chosen by GCV)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the value, with its description."""
        if self.choices is not None:
            return {"enum": list(self.choices), "description": self.description}
        value: dict[str, Any] = {"type": self.type}
        if self.minimum is not None:
            value["exclusiveMinimum" if self.open_below else "minimum"] = self.minimum
        if self.maximum is not None:
            value["exclusiveMaximum" if self.open_above else "maximum"] = self.maximum
        if self.auto:
            return {"oneOf": [value, {"const": "auto"}], "description": self.description}
        return value | {"description": self.description}

    def check(self, name: str, value: Any) -> None:
        """Raise ``ValueError`` naming ``name`` and the allowed values if ``value`` is outside them."""
        if self.auto and value == "auto":
            return
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
            return
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if self.type == "integer" and value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not self.holds(value):
            raise ValueError(f"{name} must be in {self.interval()}, got {value!r}")

    def holds(self, value: float) -> bool:
        below = self.minimum is not None and (value <= self.minimum if self.open_below else value < self.minimum)
        above = self.maximum is not None and (value >= self.maximum if self.open_above else value > self.maximum)
        return not (below or above)

    def interval(self) -> str:
        low = "-inf" if self.minimum is None else f"{self.minimum:g}"
        high = "inf" if self.maximum is None else f"{self.maximum:g}"
        left = "(" if self.open_below or self.minimum is None else "["
        right = ")" if self.open_above or self.maximum is None else "]"
        return f"{left}{low}, {high}{right}"


POOLINGS = ("last", "mean", "last_mean")

PARAMS: dict[str, Param] = {
    "hidden_size": Param("LSTM hidden units", "integer", minimum=1),
    "num_layers": Param("stacked LSTM layers", "integer", minimum=1),
    "DeepRNN.num_layers": Param("stacked LSTM layers of a DeepRNN", "integer", minimum=2, maximum=4),
    "dropout": Param(
        "dropout on the input frames, between LSTM layers and on the last hidden state",
        minimum=0,
        maximum=1,
        open_above=True,
    ),
    "reservoir_size": Param("units N of each reservoir", "integer", minimum=1),
    "spectral_radius": Param("largest |eigenvalue| of the recurrent matrix W itself", minimum=0, open_below=True),
    "sparsity": Param("fraction of W's entries that are zero", minimum=0, maximum=1, open_above=True),
    "input_connectivity": Param(
        "fraction of W_in's entries that are non-zero (every reservoir's input weights)",
        minimum=0,
        maximum=1,
        open_below=True,
    ),
    "leak_rate": Param("a in x[t] = (1-a) x[t-1] + a tanh(...)", minimum=0, maximum=1, open_below=True),
    "input_scaling": Param("W_in entries uniform in [-s, s]", minimum=0, open_below=True),
    "bias_scaling": Param("bias entries uniform in [-s, s]", minimum=0),
    "num_reservoirs": Param("reservoirs in the stack", "integer", minimum=1),
    "DeepESN.num_reservoirs": Param(
        "reservoirs in the stack (1 = the single-reservoir point of a depth sweep)", "integer", minimum=1, maximum=3
    ),
    "coupling_strength": Param("scale of the weights from layer l-1's states into layer l", minimum=0, open_below=True),
    "ridge": Param(
        "ridge added to the centred X^T X of the readout, or 'auto' (generalised cross-validation)",
        minimum=0,
        auto=True,
    ),
    "representation": Param(
        "what the readout sees of the model's states over a clip (Bianchi et al. 2021): the last, the mean, both "
        "(last_mean), every step's PCA-reduced state (states), or per clip the coefficients of a ridge model of the "
        "next reduced state from the current one (model_space, the reservoir model space)",
        choices=(*POOLINGS, "states", "model_space"),
    ),
    "NGRC.representation": Param("what the readout sees of NGRC's features over a clip", choices=POOLINGS),
    "bidirectional": Param(
        "also run the time-reversed clip through the same reservoirs, its states beside the forward ones step by step",
        "boolean",
    ),
    "reduced_size": Param(
        "principal components (a PCA on the fit clips) that states (ESN: representation states or model_space) or "
        "frame features (NGRC) are reduced to",
        "integer",
        minimum=1,
    ),
    "ensemble_size": Param(
        "independent draws of the model's reservoirs, each with its own readout, their class scores averaged",
        "integer",
        minimum=1,
    ),
    "embedding_ridge": Param("ridge of each clip's own model in the reservoir model space", minimum=0, open_below=True),
    "delay": Param(
        "copies of the reduced input in NGRC's linear part: the step and delay - 1 earlier ones", "integer", minimum=1
    ),
    "strides": Param("steps between two of NGRC's delayed copies", "integer", minimum=1),
}


def check(owner: str = "", **values: Any) -> None:
    """Check each ``name=value`` against its :class:`Param` (``<owner>.<name>``'s where the class narrows it)."""
    for name, value in values.items():
        PARAMS.get(f"{owner}.{name}", PARAMS[name]).check(name, value)
