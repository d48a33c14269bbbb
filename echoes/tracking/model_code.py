"""The MLflow model of a run, as MLflow's "models from code" file: the class, then ``set_model``.

MLflow logs this file (not a pickle of the object) and runs it again to load the model, so a
loaded model is built from the code that travels with it (``code_paths``), never unpickled.
"""

from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
import numpy as np
import torch


class EchoesModel(mlflow.pyfunc.PythonModel):
    """The pyfunc around a run bundle (``model.pt``, see :mod:`echoes.contracts.bundle`)."""

    def load_context(self, context: Any) -> None:
        from echoes.trained import load_trained_run

        self.run = load_trained_run(Path(context.artifacts["bundle"]).parent)

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:  # noqa: ANN001
        """Class scores ``[N, C]`` for raw features ``[N, T, F]`` (the hint is numpy's: MLflow
        infers no schema from it, the logged signature says the shapes)."""
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            scores = self.run.model(self.run.normaliser(x)).float()
        return (scores.softmax(1) if self.run.score == "probability" else scores).numpy()


mlflow.models.set_model(EchoesModel())
