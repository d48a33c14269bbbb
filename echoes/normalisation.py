"""Input normalisation, the same choices for every model (``training.normalisation``).

``global`` standardises each feature dimension with the fit clips' mean and standard deviation over
all frames; ``clip_mean`` then also subtracts each clip's own mean over time from its frames, which
removes anything constant within a clip (a scene's offset) and keeps only what changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NORMALISATIONS = ("global", "clip_mean")


@dataclass(frozen=True)
class Normaliser:
    """The input normalisation of a model: its mode and the fit clips' per-dimension mean and std ``[F]``.

    Kept with the trained model (the run bundle), so that new clips are normalised as training's were.
    """

    mode: str
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, fit_x: torch.Tensor, mode: str = "global") -> Normaliser:
        if mode not in NORMALISATIONS:
            raise ValueError(f"training.normalisation must be one of {NORMALISATIONS}, got {mode!r}")
        return cls(mode, fit_x.mean(dim=(0, 1)), fit_x.std(dim=(0, 1)).clamp_min(1e-6))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        scaled = (x - self.mean) / self.std
        return scaled - scaled.mean(dim=1, keepdim=True) if self.mode == "clip_mean" else scaled


def normalise(fit_x: torch.Tensor, *others: torch.Tensor, mode: str = "global") -> tuple[torch.Tensor, ...]:
    """``fit_x`` and ``others`` normalised with statistics of ``fit_x`` alone (see the module docstring)."""
    normaliser = Normaliser.fit(fit_x, mode)
    return tuple(normaliser(x) for x in (fit_x, *others))
