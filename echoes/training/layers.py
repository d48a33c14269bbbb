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

from echoes.contracts.records import LayerRecord
from echoes.models.base import BaseModel
from echoes.models.ridge import RidgeAccumulator, widened_gcv
from echoes.training.evaluation import top_k_accuracy

Clips = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def layer_features(model: BaseModel, x: torch.Tensor, batch_size: int, device: str) -> list[torch.Tensor] | None:
    """Per layer, the model's summary of every clip (``layer_summaries``), on the CPU in float64; None
    for a model without layers."""
    model.eval()
    chunks = [model.layer_summaries(chunk.to(device)) for chunk in x.split(batch_size)]
    if chunks[0] is None:
        return None
    return [torch.cat([chunk[layer] for chunk in chunks]).double().cpu() for layer in range(len(chunks[0]))]


def readout_accuracy(fit: Clips, test: Clips, num_classes: int) -> float:
    """Test top-1 of a ridge readout (ridge by GCV on the fit clips) from pooled states to classes."""
    acc = RidgeAccumulator(fit[0].shape[1], num_classes)
    acc.update(*fit)
    gcv, _ = widened_gcv(acc)
    weights, intercept = acc.solve(min(gcv, key=gcv.get))
    return top_k_accuracy(test[0] @ weights + intercept, test[1], 1)


def layer_records(
    model: BaseModel, fit: Clips, test: Clips, num_classes: int, batch_size: int, device: str, seed: int
) -> list[dict] | None:
    """One record per layer of a model that has layers (``layer_summaries``), else None: ``accuracy``
    (a readout of that layer alone), ``accuracy_up_to`` (of layers 1..l) and the model's own
    ``layer_probes`` (``fit`` and ``test`` clips normalised as the model saw them)."""
    fit_z, test_z = (layer_features(model, x, batch_size, device) for x in (fit[0], test[0]))
    if fit_z is None:
        return None
    layers, unavailable = len(fit_z), {}
    probes = {name: diagnostic(name, probe, layers, unavailable) for name, probe in model.layer_probes(seed).items()}
    records = []
    for layer in range(layers):
        up_to = [torch.cat(z[: layer + 1], 1) for z in (fit_z, test_z)]
        records.append(
            LayerRecord(
                layer=layer + 1,
                accuracy=readout_accuracy((fit_z[layer], fit[1]), (test_z[layer], test[1]), num_classes),
                accuracy_up_to=readout_accuracy((up_to[0], fit[1]), (up_to[1], test[1]), num_classes),
                diagnostics={name: values[layer] for name, values in probes.items()},
                unavailable=unavailable,
            ).record()
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
