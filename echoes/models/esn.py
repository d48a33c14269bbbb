"""Echo State Networks: frozen random reservoirs (:mod:`echoes.models.reservoir`), batched over
sequences, under a ridge readout; what the readout sees of their states is a representation
(:mod:`echoes.models.representations`).

The parameters have one meaning each, as in ``config.yaml`` and its schema: see the Parameters of
:class:`ReservoirStack`, of which SimpleESN (one reservoir) and DeepESN (1-3) are presets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from echoes.contracts import params
from echoes.models import esn_kernels as kernels
from echoes.models.harvest import BlockedHarvest
from echoes.models.representations import REDUCED, StatePCA, model_space, pool_states, representation_width
from echoes.models.reservoir import Reservoir
from echoes.models.ridge import ClosedFormModel


class ReservoirStack(ClosedFormModel):
    """``num_reservoirs`` frozen reservoirs in a stack under one ridge readout; only the readout is trained.

    Layer 1 is driven by the input; layer l > 1 by the states of layer l-1 through its own input
    weights (Gallicchio, Micheli & Pedrelli 2017). Layers run one after another over the whole
    sequence, and the readout sees a representation of all layers' states, concatenated
    (:mod:`echoes.models.representations`). A single reservoir is drawn from ``seed``, layer l of
    a deeper stack from ``(seed, l)``.

    Parameters
    ----------
    input_size, num_classes, seed, num_frames
        Set by Echoes from the data and the run (``num_frames``: T, steps per clip).
    reservoir_size
        Number of units N of each reservoir.
    num_reservoirs
        Reservoirs in the stack.
    coupling_strength
        Scale of the inter-layer weights by which layer l-1's states drive layer l: entries uniform
        in ``[-coupling_strength, coupling_strength]``, as sparse as ``input_connectivity`` says.
    spectral_radius
        Largest absolute eigenvalue of the recurrent matrix ``W`` itself (not of the leaky
        effective matrix ``(1-a)I + aW``), set exactly by rescaling after an eigenvalue solve.
    sparsity
        Fraction of ``W``'s entries that are exactly zero (0.9 = 10 % connectivity).
    leak_rate
        ``a`` in the update, in (0, 1]; 1 is a plain tanh reservoir, small values integrate slowly.
    input_scaling
        Non-zero ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
    bias_scaling
        Entries of ``b`` are uniform in ``[-bias_scaling, bias_scaling]``.
    ridge
        The readout's ridge (:mod:`echoes.models.ridge`), or ``"auto"``: chosen by GCV.
    representation
        What the readout sees of the states (Bianchi et al. 2021): ``last``, ``mean``,
        ``last_mean`` (the two concatenated), ``states`` (every step, PCA-reduced) or
        ``model_space`` (per clip, the coefficients of a ridge model of the next reduced state).
    bidirectional
        Also run the time-reversed clip through the same reservoirs and set its states beside the
        forward ones, step by step (Bianchi et al. 2021): the last state then holds the clip's
        start as freshly as its end.
    reduced_size
        Principal components the states are reduced to for ``states`` and ``model_space`` (a PCA of
        every step's states of the fit clips, fitted before the readout).
    embedding_ridge
        The ridge of each clip's own model in ``model_space`` (on its coefficients, not on the
        intercept).
    input_connectivity
        Fraction of every reservoir's input weights that are non-zero (ReservoirPy's name, meaning
        and default, 0.1; 1 = dense). Which entries survive is drawn after ``W`` and ``b``, so one
        seed gives the same ``W``, ``b`` and surviving ``W_in`` values whatever the connectivity.
    ensemble_size
        Independent draws of the whole model (reservoirs, PCA and readout), their class scores
        averaged (an ensemble of ESNs; :class:`echoes.models.ridge.ClosedFormModel`): 1, one draw.
        The first draw is this model's own (the reservoirs ``seed`` gives, as without an ensemble),
        draw ``k`` its ``members[k - 1]``, whose reservoirs are drawn from ``(seed, layer, k)``. The
        per-layer diagnostics (``layer_summaries``, ``layer_probes``) describe the first draw.
    member
        Which draw of an ensemble this model is (set by the ensemble for its members; 0 the first).
    """

    kind = "ESN"

    def __init__(
        self,
        input_size: int,
        reservoir_size: int = 1000,
        num_classes: int = 101,
        num_reservoirs: int = 1,
        coupling_strength: float = 0.5,
        spectral_radius: float = 0.9,
        sparsity: float = 0.9,
        leak_rate: float = 0.3,
        input_scaling: float = 0.1,
        bias_scaling: float = 0.1,
        ridge: float | str = "auto",
        representation: str = "last_mean",
        bidirectional: bool = False,
        reduced_size: int = 30,
        embedding_ridge: float = 1.0,
        seed: int = 0,
        input_connectivity: float = 0.1,
        num_frames: int = 1,
        ensemble_size: int = 1,
        member: int = 0,
    ) -> None:
        draw = {name: value for name, value in locals().items() if name not in ("self", "__class__", "ensemble_size")}
        params.check(num_reservoirs=num_reservoirs, coupling_strength=coupling_strength, reservoir_size=reservoir_size)
        params.check(representation=representation, bidirectional=bidirectional, reduced_size=reduced_size)
        params.check(embedding_ridge=embedding_ridge, ensemble_size=ensemble_size)
        width = (1 + bool(bidirectional)) * num_reservoirs * reservoir_size  # every state the readout may see
        super().__init__(representation_width(representation, width, reduced_size, num_frames), num_classes, ridge)
        self.representation, self.bidirectional, self.seed = representation, bool(bidirectional), seed
        self.embedding_ridge = embedding_ridge
        self.pca = StatePCA(width, reduced_size) if representation in REDUCED else None
        self.block_width = None
        self.harvest = BlockedHarvest()
        self.layers = nn.ModuleList(
            Reservoir(
                input_size if layer == 0 else reservoir_size,
                reservoir_size,
                spectral_radius=spectral_radius,
                sparsity=sparsity,
                leak_rate=leak_rate,
                input_scaling=input_scaling if layer == 0 else coupling_strength,
                bias_scaling=bias_scaling,
                input_connectivity=input_connectivity,
                seed=reservoir_seed(seed, layer, num_reservoirs, member),
            )
            for layer in range(num_reservoirs)
        )
        self._add_draws(draw, ensemble_size)

    def _add_draws(self, draw: dict[str, Any], ensemble_size: int) -> None:
        """The ensemble's further draws: this model's arguments ``draw`` but the member index."""
        for k in range(1, ensemble_size):
            self.members.append(ReservoirStack(**{**draw, "member": k}))
            self.members[-1].harvest = self.harvest  # one measured block width for every draw

    @property
    def block_width(self) -> int | None:
        """The harvest's block width if forced (benchmarks, tests), for every draw of an ensemble; None: measured."""
        return self._block_width

    @block_width.setter
    def block_width(self, width: int | None) -> None:
        self._block_width = width
        for member in self.members:
            member.block_width = width

    @property
    def measured_block_widths(self) -> list[int]:
        """The block widths the harvests used so far, one per set of candidate widths met."""
        return list(self.harvest.widths.values())

    def _harvest(self, x: torch.Tensor, encode_block: Any, consume: Any = None) -> torch.Tensor | None:
        """``encode_block`` over blocks of ``x`` ``[B, T, F]`` (each result to ``consume`` if given), the
        block width measured once per machine (:class:`echoes.models.harvest.BlockedHarvest`) unless
        ``block_width`` forces one."""
        matrices = [(layer.input_matrix(x.device), layer.recurrent_matrix(x.device)) for layer in self.layers]
        return self.harvest(x, matrices, encode_block, self.block_width, consume)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The readout's features ``[B, width]`` of inputs ``[B, T, F]`` (each block of sequences goes
        through every layer, and both directions, before the next)."""
        return self._harvest(x, self._encode_block)

    @torch.no_grad()
    def fit_encoder(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """For ``states`` and ``model_space``: the PCA of every step's states of the fit clips."""
        if self.pca is None:
            return
        self.pca.start()
        for x, _ in batches:
            self._harvest(x.to(self.readout.weight.device), self._trajectory, consume=self.pca.update)
        self.pca.finish(self.seed)

    def layer_summaries(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's last and mean forward states ``[B, 2N]``, whatever the representation: the
        layers compared on one footing (:mod:`echoes.training.layers`)."""
        pooled = self._harvest(x, lambda block, matrices, workspace: torch.cat(
            [pool_half_states(half, "last_mean") for half in self._states(block, matrices, workspace, 1)], 1
        ))  # fmt: skip
        return list(pooled.split(pooled.shape[1] // len(self.layers), dim=1))

    def layer_probes(self, seed: int) -> dict[str, Callable[[], list[float]]]:
        """Each reservoir's effective spectral radius and linear memory capacity (:mod:`echoes.models.esn_probes`)."""
        from echoes.models.esn_probes import effective_spectral_radius, memory_capacity

        return {
            "effective_spectral_radius": lambda: effective_spectral_radius(self),
            "memory_capacity": lambda: memory_capacity(self, seed),
        }

    def _states(
        self, block: torch.Tensor, matrices: kernels.Matrices, workspace: kernels.Workspace, directions: int
    ) -> Iterator[torch.Tensor]:
        """Each layer's feature-major half-states ``(x + 1) / 2`` ``[T, N, b]`` of one ``[b, T, F]`` block
        (:mod:`echoes.models.esn_kernels`), layer by layer, the forward pass first, then (``directions`` 2)
        the time-reversed one. Each is a reused buffer, valid until two layers on."""
        for direction in range(directions):
            if matrices[0][0].is_sparse_csr:  # the sparse input product steps over contiguous [F, b] slices
                states = kernels.feature_major(block, workspace, f"inputs{direction}", reverse=bool(direction))
            else:
                states = (block.flip(1) if direction else block).permute(1, 2, 0)  # feature-major [T, F, b]
            for layer, (reservoir, (w_in_t, w_t)) in enumerate(zip(self.layers, matrices, strict=True)):
                shape = (states.shape[0], reservoir.units, states.shape[2])
                out = workspace.tensor(f"states{layer % 2}", shape, states)
                states = reservoir.run_half(states, w_t, w_in_t, out, half_inputs=layer > 0)
                yield states

    def _trajectory(
        self, block: torch.Tensor, matrices: kernels.Matrices, workspace: kernels.Workspace
    ) -> torch.Tensor:
        """Every state the readout may see, ``[T, width, b]``: all layers, both directions if bidirectional."""
        directions = 1 + self.bidirectional
        width = directions * sum(layer.units for layer in self.layers)
        trajectory = block.new_empty((block.shape[1], width, len(block)))
        start = 0
        for half in self._states(block, matrices, workspace, directions):
            kernels.to_states(half, out=trajectory[:, start : start + half.shape[1]])
            start += half.shape[1]
        return trajectory

    def _encode_block(
        self, block: torch.Tensor, matrices: kernels.Matrices, workspace: kernels.Workspace
    ) -> torch.Tensor:
        """The readout's features of one ``[b, T, F]`` block."""
        if self.pca is None:  # pooled layer by layer: the buffer is overwritten two layers on
            directions = 1 + self.bidirectional
            halves = self._states(block, matrices, workspace, directions)
            pooled = [pool_half_states(half, self.representation) for half in halves]
            return torch.cat(pooled, dim=1)
        reduced = self.pca(self._trajectory(block, matrices, workspace))  # [T, k, b]
        if self.representation == "states":
            return reduced.permute(2, 0, 1).reshape(len(block), -1)
        return model_space(reduced, self.embedding_ridge)


def reservoir_seed(seed: int, layer: int, num_reservoirs: int, member: int = 0) -> int | tuple[int, ...]:
    """What reservoir ``layer`` of draw ``member`` is drawn from: ``seed`` alone for a single reservoir,
    ``(seed, layer)`` in a stack, as before ensembles; ``(seed, layer, member)`` for a further draw."""
    if member:
        return seed, layer, member
    return seed if num_reservoirs == 1 else (seed, layer)


def pool_half_states(half: torch.Tensor, pooling: str) -> torch.Tensor:
    """:func:`pool_states` of the states whose half-states are ``half``, in a new tensor (``half`` is a
    reused buffer). The pooling is linear: the pooled half-states are turned back, not every step."""
    pooled = pool_states(half, pooling)
    return kernels.to_states(pooled, out=pooled.new_empty(pooled.shape))


class SimpleESN(ReservoirStack):
    """One reservoir (``reservoir_size`` 1000 by default); the readout sees its pooled states.

    Parameters: those of :class:`ReservoirStack` but ``num_reservoirs``.
    """

    def __init__(self, input_size: int, reservoir_size: int = 1000, num_classes: int = 101, **reservoir: Any) -> None:
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=1, **reservoir)

    @property
    def reservoir(self) -> Reservoir:
        return self.layers[0]


class DeepESN(ReservoirStack):
    """A stack of reservoirs, each driven by the one below; the readout sees every layer's states.

    Parameters
    ----------
    reservoir_size
        Units of each reservoir (default 500).
    num_reservoirs
        1-3 (default 3). One reservoir is the single-reservoir point of a depth sweep: the same
        model as a SimpleESN of the same settings and seed.
    **reservoir
        Any other parameter of :class:`ReservoirStack`.
    """

    def __init__(self, input_size: int, reservoir_size: int = 500, num_classes: int = 101, **reservoir: Any) -> None:
        num_reservoirs = reservoir.pop("num_reservoirs", 3)
        if "num_layers" in reservoir:
            raise ValueError("DeepESN has no num_layers: the number of reservoirs is num_reservoirs")
        params.check("DeepESN", num_reservoirs=num_reservoirs)
        super().__init__(input_size, reservoir_size, num_classes, num_reservoirs=num_reservoirs, **reservoir)
