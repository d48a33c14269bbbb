"""Next-generation reservoir computing: no random reservoir, only delays and their products.

Gauthier, Bollt, Griffith & Barbosa, "Next generation reservoir computing" (Nature Communications
2021) replace the reservoir by a nonlinear vector autoregression (ReservoirPy's ``NVAR``): at each
step, the linear part is the input and ``delay - 1`` earlier copies of it, ``strides`` steps
apart, and the nonlinear part the unique quadratic monomials of the linear part. A ridge readout
on those features is the only thing trained.

For clips of wide frame features (512-d), the frames are first reduced by a PCA fitted on the fit
clips' frames (``reduced_size`` components): the quadratic part grows with the square of the
linear part's width. Before the clip the input is taken as zero, as an ESN starts from a zero
state, so that every step has its delayed copies; for classification, the steps' features are
summarised as the ESNs' states are (``representation``: ``last``, ``mean`` or ``last_mean``).
The mean of the quadratic monomials is a lagged second moment of the clip: it compares what
happens at one step with what happened ``strides``, ``2 * strides``, ... steps before, which a
linear readout of frames (AllFrames) or of last and mean states cannot.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from echoes.contracts import params
from echoes.models.representations import StatePCA
from echoes.models.ridge import ClosedFormModel


def monomial_count(width: int) -> int:
    """Unique quadratic monomials of ``width`` variables: ``width * (width + 1) / 2``."""
    return width * (width + 1) // 2


class NGRC(ClosedFormModel):
    """PCA of the frames -> ``delay`` delayed copies -> their unique quadratic monomials -> ridge readout.

    Parameters
    ----------
    input_size, num_classes, num_frames
        Set by Echoes from the data (``num_frames``: T, steps per clip).
    reduced_size
        Principal components of the frame features (a PCA fitted on the fit clips' frames); at most
        ``input_size`` (a wider request keeps every dimension, so one search space serves 12-d and
        512-d inputs).
    delay
        Copies of the reduced input in the linear part: the current step and ``delay - 1`` earlier ones
        (ReservoirPy's ``NVAR(delay=...)``; Gauthier et al.'s ``k``).
    strides
        Steps between two delayed copies (ReservoirPy's ``strides``; Gauthier et al.'s ``s``).
    representation
        How the steps' features summarise a clip: ``last``, ``mean`` or ``last_mean``.
    ridge
        The readout's ridge, or ``"auto"``: chosen by GCV (:mod:`echoes.models.ridge`).
    """

    kind = "NG-RC"

    def __init__(
        self,
        input_size: int,
        num_frames: int,
        num_classes: int = 101,
        reduced_size: int = 8,
        delay: int = 2,
        strides: int = 1,
        representation: str = "mean",
        ridge: float | str = "auto",
    ) -> None:
        params.check("NGRC", reduced_size=reduced_size, delay=delay, strides=strides, representation=representation)
        reduced_size = min(reduced_size, input_size)  # a PCA keeps at most every dimension
        if (delay - 1) * strides >= num_frames:
            raise ValueError(
                f"delay {delay} with strides {strides} reaches {(delay - 1) * strides} steps back, but clips have "
                f"{num_frames} steps"
            )
        linear = delay * reduced_size
        features = linear + monomial_count(linear)
        super().__init__(features * (2 if representation == "last_mean" else 1), num_classes, ridge)
        self.delay, self.strides, self.representation = delay, strides, representation
        self.pca = StatePCA(input_size, reduced_size)

    @torch.no_grad()
    def fit_encoder(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """The PCA of every frame of the fit clips."""
        self.pca.start()
        for x, _ in batches:
            self.pca.update(x.to(self.readout.weight.device).permute(1, 2, 0))
        self.pca.finish()

    def linear_part(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, delay * reduced_size]``: at each step t the reduced frames of t, t - strides, ...,
        newest first; before the clip the input is zero (as an ESN starts from a zero state)."""
        reduced = self.pca(x.permute(1, 2, 0)).permute(2, 0, 1)  # [B, T, k]
        reach, steps = (self.delay - 1) * self.strides, x.shape[1]
        padded = torch.cat([reduced.new_zeros((len(x), reach, reduced.shape[2])), reduced], 1)
        return torch.cat([padded[:, reach - j * self.strides : reach - j * self.strides + steps]
                          for j in range(self.delay)], 2)  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The readout's features: the linear part and its quadratic monomials, summarised over the steps."""
        linear = self.linear_part(x)
        summaries = []
        if self.representation in ("last", "last_mean"):
            last = linear[:, -1]
            summaries.append(torch.cat([last, self.quadratic(last[:, :, None] * last[:, None, :])], 1))
        if self.representation in ("mean", "last_mean"):
            second_moment = linear.transpose(1, 2) @ linear / linear.shape[1]  # mean over steps of the products
            summaries.append(torch.cat([linear.mean(1), self.quadratic(second_moment)], 1))
        return torch.cat(summaries, 1)

    def quadratic(self, products: torch.Tensor) -> torch.Tensor:
        """The unique monomials ``[B, m]`` (upper triangle, diagonal included) of products ``[B, w, w]``."""
        rows, columns = torch.triu_indices(products.shape[1], products.shape[1], device=products.device)
        return products[:, rows, columns]
