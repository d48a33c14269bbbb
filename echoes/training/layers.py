"""What each reservoir of an ESN adds: one record per layer of the selected model.

A ridge readout (GCV on the fit clips, as the model's own) is fitted on the last and mean forward
states of layer ``l`` alone (``accuracy``) and of layers ``1..l`` together (``accuracy_up_to``),
whatever representation the model's own readout sees, and scored on the test clips: the layers
compared on one footing. Beside them, each layer's effective spectral radius and linear memory
capacity (:mod:`echoes.models.esn_probes`): does a deeper layer remember longer, and does that buy
accuracy? A diagnostic that cannot be computed is recorded as None with its reason
(``unavailable``): it never fails the run it describes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from echoes.models.esn import ReservoirStack
from echoes.models.esn_probes import effective_spectral_radius, memory_capacity
from echoes.models.ridge import RidgeAccumulator, widened_gcv
from echoes.training.evaluation import top_k_accuracy

Clips = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def pooled_states(model: ReservoirStack, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    """Every layer's last and mean forward states ``[N, layers * 2N]`` (layer by layer), on the CPU in float64."""
    model.eval()
    return torch.cat([model.layer_summaries(chunk.to(device)).double().cpu() for chunk in x.split(batch_size)])


def readout_accuracy(fit: Clips, test: Clips, num_classes: int) -> float:
    """Test top-1 of a ridge readout (ridge by GCV on the fit clips) from pooled states to classes."""
    acc = RidgeAccumulator(fit[0].shape[1], num_classes)
    acc.update(*fit)
    gcv, _ = widened_gcv(acc)
    weights, intercept = acc.solve(min(gcv, key=gcv.get))
    return top_k_accuracy(test[0] @ weights + intercept, test[1], 1)


def layer_records(
    model: ReservoirStack, fit: Clips, test: Clips, batch_size: int, device: str, seed: int
) -> list[dict]:
    """One record per reservoir: ``accuracy``, ``accuracy_up_to``, ``effective_spectral_radius``,
    ``memory_capacity`` (``fit`` and ``test`` clips normalised as the model saw them)."""
    num_classes, layers = model.num_classes, len(model.layers)
    fit_z, test_z = (pooled_states(model, x, batch_size, device) for x in (fit[0], test[0]))
    width = fit_z.shape[1] // layers
    unavailable: dict[str, str] = {}
    radii = diagnostic("effective_spectral_radius", lambda: effective_spectral_radius(model), layers, unavailable)
    capacities = diagnostic("memory_capacity", lambda: memory_capacity(model, seed), layers, unavailable)
    records = []
    for layer in range(layers):
        alone, up_to = slice(layer * width, (layer + 1) * width), slice(0, (layer + 1) * width)
        records.append(
            {
                "layer": layer + 1,
                "accuracy": readout_accuracy((fit_z[:, alone], fit[1]), (test_z[:, alone], test[1]), num_classes),
                "accuracy_up_to": readout_accuracy((fit_z[:, up_to], fit[1]), (test_z[:, up_to], test[1]), num_classes),
                "effective_spectral_radius": radii[layer],
                "memory_capacity": capacities[layer],
            }
            | ({"unavailable": unavailable} if unavailable else {})
        )
    return records


def diagnostic(name: str, compute: Callable[[], list[float]], layers: int, unavailable: dict[str, str]) -> list:
    """``compute()``, or one None per layer with the reason in ``unavailable[name]`` (and a warning) if it fails."""
    try:
        return compute()
    except Exception as error:  # a diagnostic describes the run; it must never end it
        unavailable[name] = f"{type(error).__name__}: {error}"
        print(f"WARNING: {name} could not be computed ({unavailable[name]}); recorded as missing", file=sys.stderr)
        return [None] * layers
