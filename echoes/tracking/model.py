"""A run's bundle as an MLflow model: raw per-frame features in, class scores out.

``mlflow.pyfunc.load_model(...).predict(features)`` takes features ``[N, T, F]`` float32 exactly as
``features.h5`` holds them (before any normalisation) and applies the run's own normalisation and
model, so a loaded model classifies raw features as the evaluation did. Scores are probabilities
for gradient-trained models and ridge readout scores otherwise (the model's metadata says which).
The package travels with the model (``code_paths``), so loading needs no checkout of Echoes, and
the model is logged from code (:mod:`echoes.tracking.model_code`), not pickled.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import torch

import echoes
from echoes.tracking import model_code


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
        python_model=model_code.__file__,  # models from code: the file is logged and run again to load
        artifacts={"bundle": str(bundle)},
        code_paths=[str(Path(echoes.__file__).parent)],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=requirements(),
        metadata={"classes": run.classes, "scores": run.score},
    )
