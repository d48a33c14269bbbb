"""A trained run, rebuilt from its bundle: model, normalisation, classes and feature settings.

Shared by ``echoes predict`` (new videos) and the MLflow model (raw features); it needs neither
the decoder nor the CNN, so the training stage does not depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from echoes.contracts.bundle import BundleError, read_bundle
from echoes.contracts.records import FeatureAttrs
from echoes.models import BaseModel, build_model
from echoes.normalisation import Normaliser


@dataclass
class TrainedRun:
    """A run's model, ready to classify: rebuilt from its bundle."""

    model: BaseModel
    normaliser: Normaliser
    classes: list[str]
    features: FeatureAttrs
    name: str

    @property
    def score(self) -> str:
        return "ridge score" if self.model.fit_method == "closed_form" else "probability"


def load_trained_run(run_dir: str | Path) -> TrainedRun:
    """The model of ``results/models/<model>/runs/<run>/``; a missing or unusable run is an error naming it."""
    path = Path(run_dir) / "model.pt"
    if not path.is_file():
        raise BundleError(
            f"{path}: no model bundle; run the workflow first, or check --run (e.g. "
            "results/models/SimpleESN/runs/split1-seed0)"
        )
    bundle = read_bundle(path)
    features = FeatureAttrs.read(bundle["features"])
    norm = bundle["normalisation"]
    spec = bundle["model"]
    model = build_model(
        spec["class"],
        spec["params"],
        int(norm["mean"].shape[0]),
        len(bundle["classes"]),
        key=f"{path} model",
        num_frames=features.frames_per_clip,
    )
    model.load_state_dict(bundle["state_dict"])
    return TrainedRun(
        model.eval(), Normaliser(norm["mode"], norm["mean"], norm["std"]), bundle["classes"], features, spec["name"]
    )
