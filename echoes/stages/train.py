"""The training stage: one run (model, split, seed) from ``features.h5`` to ``model.pt`` and ``metrics.json``.
The run itself is :func:`echoes.training.job.train_on_split`'s; MLflow logs it afterwards
(:mod:`echoes.stages.track`).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from echoes.contracts.bundle import write_bundle
from echoes.contracts.metrics import failed_record, write_metrics
from echoes.models import BaseModel
from echoes.normalisation import Normaliser
from echoes.training.data import load_split
from echoes.training.job import train_on_split
from echoes.training.spec import RunSpec


def tune_worker_job(features: Path, manifest: Path, out: Path, spec: RunSpec, on_partial_video: str) -> list[int]:
    """One of ``tuning.workers`` jobs that run a study's trials together through its storage
    (:mod:`echoes.training.studies`); writes which trials it ran to ``out``. The training job then
    selects among them, refits the selected trial and scores it on test (:func:`run_training_job`)."""
    from dataclasses import replace

    from echoes.devices import pick_device, set_threads
    from echoes.files import write_json
    from echoes.training.protocol import group_holdout
    from echoes.training.studies import study_name
    from echoes.training.tuning import data_identity, open_study, run_trials

    set_threads(spec.threads)
    spec = replace(spec, device=pick_device(spec.device))
    data = load_split(features, manifest, spec.split, on_partial_video)
    fit_idx, val_idx, _ = group_holdout(data.train_groups, spec.training, spec.seed)
    study, _, points = open_study(spec, data)
    numbers = sorted(run_trials(study, data, fit_idx, val_idx, spec, points, exclusive=False))
    write_json(out, {"study": study_name(spec, data_identity(data)), "storage": spec.budget.storage, "trials": numbers})
    return numbers


def run_training_job(
    features_path: Path,
    manifest_path: Path,
    out_dir: Path,
    spec: RunSpec,
    *,
    log_path: str | None = None,
    on_partial_video: str = "keep",
) -> dict:
    """Stage entry point: train, then write the bundle ``model.pt`` and ``metrics.json``.

    The job imports no MLflow: its run is logged by the model's ``track_model`` job from these
    files, with the wall-clock window recorded here (``started_ms``, ``ended_ms``) as the run's
    duration, so a job pays for its work and not for tracking, and a killed job leaves no run
    behind. With ``training.on_failure: report`` a model that fails (diverges, bad params, out of
    memory) writes a metrics file with ``status: failed``, the error and the log path instead of
    stopping the workflow, so the report still renders and marks that row; ``fail`` re-raises.
    """
    out_dir = Path(out_dir)
    started_ms = int(time.time() * 1000)
    try:
        data = load_split(features_path, manifest_path, spec.split, on_partial_video)
        metrics, model, normaliser = train_on_split(data, spec)
    except Exception as error:
        if spec.training.on_failure != "report":
            raise
        traceback.print_exc()
        print(f"WARNING: {spec.name} (split {spec.split}, seed {spec.seed}) failed; the report marks it as failed",
              file=sys.stderr)  # fmt: skip
        metrics = failed_record(spec.name, spec.model_class, spec.params, spec.split, spec.seed, error, log_path)
        model = normaliser = None
    metrics = metrics | {"started_ms": started_ms, "ended_ms": int(time.time() * 1000)}
    write_run(out_dir / "model.pt", metrics, model, normaliser)
    return write_metrics(out_dir / "metrics.json", metrics)


def write_run(path: Path, metrics: dict, model: BaseModel | None, normaliser: Normaliser | None) -> None:
    """The bundle ``model.pt``: the selected model's weights and what its inputs need (empty for a failed run)."""
    write_bundle(
        path,
        name=metrics["model"],
        model_class=metrics["class"],
        params=metrics["params"],
        state_dict=model.state_dict() if model is not None else {},
        classes=metrics.get("classes", []),
        normalisation={"mode": normaliser.mode, "mean": normaliser.mean, "std": normaliser.std} if normaliser else {},
        features=metrics.get("features", {}),
        status=metrics["status"],
    )
