"""Input normalisation, the same choices for every model (``training.normalisation``).

``global`` standardises each feature dimension with the fit clips' mean and standard deviation over
all frames; ``clip_mean`` then also subtracts each clip's own mean over time from its frames, which
removes anything constant within a clip (a scene's offset) and keeps only what changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NORMALISATIONS = ("global", "clip_mean")
STATISTICS_CHUNK = 1024  # clips per float64 chunk of the statistics: a bounded copy, never the whole set


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
        """Mean and (sample) std per dimension over every frame of ``fit_x`` ``[N, T, F]``, summed in
        float64 a chunk of clips at a time: features near 1e30, valid float32, square past float32's
        range, and a float32 std of them would be infinite."""
        if mode not in NORMALISATIONS:
            raise ValueError(f"training.normalisation must be one of {NORMALISATIONS}, got {mode!r}")
        count = fit_x.shape[0] * fit_x.shape[1]
        chunks = fit_x.split(STATISTICS_CHUNK)
        mean = sum(chunk.double().sum(dim=(0, 1)) for chunk in chunks) / count
        squares = sum(((chunk.double() - mean) ** 2).sum(dim=(0, 1)) for chunk in chunks)
        std = (squares / max(count - 1, 1)).sqrt().clamp_min(1e-6)
        return cls(mode, mean.to(fit_x.dtype), std.to(fit_x.dtype))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        scaled = (x - self.mean) / self.std
        return scaled - scaled.mean(dim=1, keepdim=True) if self.mode == "clip_mean" else scaled


def normalise(fit_x: torch.Tensor, *others: torch.Tensor, mode: str = "global") -> tuple[torch.Tensor, ...]:
    """``fit_x`` and ``others`` normalised with statistics of ``fit_x`` alone (see the module docstring)."""
    normaliser = Normaliser.fit(fit_x, mode)
    return tuple(normaliser(x) for x in (fit_x, *others))
