"""``results/models/<model>/runs/<run>/model.pt``: a trained model with what it needs to be used again.

A dict saved with ``torch.save`` and loaded with ``weights_only=True`` (plain containers and
tensors, no pickled code): the model's class, params and weights, the class names, the input
normalisation (mode, mean, std over the fit clips) and the feature-extraction settings that made
its inputs (backbone, weights identity, T, frame size, precision). A failed run's bundle has
``status: failed`` and no weights. This module is the only one that writes or reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from echoes.files import atomic_path

BUNDLE_FORMAT = 1


class BundleError(ValueError):
    """A bundle this version cannot use; the message names the file."""


def write_bundle(
    path: Path,
    *,
    name: str,
    model_class: str,
    params: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    classes: list[str],
    normalisation: Mapping[str, Any],
    features: Mapping[str, Any],
    status: str = "ok",
) -> None:
    bundle = {
        "format": BUNDLE_FORMAT,
        "status": status,
        "model": {"name": name, "class": model_class, "params": dict(params)},
        "state_dict": dict(state_dict),
        "classes": list(classes),
        "normalisation": dict(normalisation),
        "features": dict(features),
    }
    with atomic_path(path) as tmp:
        torch.save(bundle, tmp)


def read_bundle(path: Path) -> dict[str, Any]:
    """The bundle of a finished run; a missing, foreign, outdated or failed one is an error naming the file."""
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise BundleError(f"{path}: cannot read the model bundle ({error})") from error
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        found = bundle.get("format") if isinstance(bundle, dict) else type(bundle).__name__
        raise BundleError(f"{path}: model bundle format {found!r}, expected {BUNDLE_FORMAT}; rerun its training job")
    if bundle["status"] != "ok":
        raise BundleError(f"{path}: the run failed, the bundle holds no trained model (see its metrics.json)")
    return bundle
