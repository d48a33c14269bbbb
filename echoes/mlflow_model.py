"""A run's bundle as an MLflow model: raw per-frame features in, class scores out.

``mlflow.pyfunc.load_model(...).predict(features)`` takes features ``[N, T, F]`` float32 exactly as
``features.h5`` holds them (before any normalisation) and applies the run's own normalisation and
model, so a loaded model classifies raw features as the evaluation did. Scores are probabilities
for gradient-trained models and ridge readout scores otherwise (the model's metadata says which).
The package travels with the model (``code_paths``), so loading needs no checkout of Echoes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import torch

import echoes


class EchoesModel(mlflow.pyfunc.PythonModel):
    """The pyfunc around a run bundle (``model.pt``, see :mod:`echoes.contracts.bundle`)."""

    def load_context(self, context: Any) -> None:
        from echoes.trained import load_trained_run

        self.run = load_trained_run(Path(context.artifacts["bundle"]).parent)

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would read them as a schema
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            scores = self.run.model(self.run.normaliser(x)).float()
        return (scores.softmax(1) if self.run.score == "probability" else scores).numpy()


def requirements() -> list[str]:
    """Pinned to what trained the model: the packages the bundled code imports to load and predict."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("torch", "torchvision", "numpy", "scipy", "av", "h5py", "tqdm")]


def log_model(bundle: Path, example: np.ndarray) -> None:
    """Log the bundle as the active run's MLflow model, with a signature and an input example."""
    from mlflow.models import infer_signature

    from echoes.trained import load_trained_run

    run = load_trained_run(Path(bundle).parent)
    with torch.no_grad():
        scores = run.model(run.normaliser(torch.as_tensor(example))).float()
    output = (scores.softmax(1) if run.score == "probability" else scores).numpy()
    mlflow.pyfunc.log_model(
        name="model",
        python_model=EchoesModel(),
        artifacts={"bundle": str(bundle)},
        code_paths=[str(Path(echoes.__file__).parent)],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=requirements(),
        metadata={"classes": run.classes, "scores": run.score},
    )
