"""The training stage: one run (model, split, seed) from ``features.h5`` to ``model.pt`` and ``metrics.json``,
tracked in MLflow. The run itself is :func:`echoes.training.job.train_on_split`'s.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from echoes.contracts.bundle import write_bundle
from echoes.contracts.metrics import failed_record, write_metrics
from echoes.models import BaseModel
from echoes.normalisation import Normaliser
from echoes.training.data import load_split
from echoes.training.job import train_on_split
from echoes.training.spec import RunSpec


def tune_worker_job(
    features: Path,
    manifest: Path,
    out: Path,
    model: str,
    entry: dict[str, Any],
    training: dict[str, Any],
    tuning: dict[str, Any],
    *,
    split: int,
    seed: int,
    device: str,
    threads: int,
    on_partial_video: str,
) -> list[int]:
    """One of ``tuning.workers`` jobs that run a study's trials together through its storage
    (:mod:`echoes.training.studies`); writes which trials it ran to ``out``. The training job then
    selects among them, refits the selected trial and scores it on test."""
    from dataclasses import replace

    from echoes.devices import pick_device, set_threads
    from echoes.files import write_json
    from echoes.training.protocol import group_holdout
    from echoes.training.studies import study_name
    from echoes.training.tuning import data_identity, open_study, run_trials

    set_threads(threads)
    spec = RunSpec.from_config(model, entry, training, tuning, split=split, seed=seed, threads=threads)
    spec = replace(spec, device=pick_device(device))
    data = load_split(features, manifest, split, on_partial_video)
    fit_idx, val_idx, _ = group_holdout(data.train_groups, spec.training, seed)
    study, _, points = open_study(spec, data)
    numbers = sorted(run_trials(study, data, fit_idx, val_idx, spec, points, exclusive=False))
    write_json(out, {"study": study_name(spec, data_identity(data)), "storage": spec.budget.storage, "trials": numbers})
    return numbers


def train_model_job(
    features: Path,
    manifest: Path,
    metrics: Path,
    model: str,
    entry: dict[str, Any],
    training: dict[str, Any],
    tuning: dict[str, Any],
    *,
    split: int,
    seed: int,
    device: str,
    threads: int,
    tracking_file: Path,
    on_partial_video: str,
    log_path: str,
    rule: str,
    source_dir: Path,
) -> dict:
    """The training job as the workflow runs it: the run from the model's config entry and the
    ``training`` and ``tuning`` sections, tracked with the rule, the commit of ``source_dir`` and a hash
    of what decides the result; then :func:`run_training_job`."""
    from echoes.tracking.experiment import config_hash, git_commit, read_tracking_info

    spec = RunSpec.from_config(model, entry, training, tuning, split=split, seed=seed, device=device, threads=threads)
    tags = {
        "echoes.rule": rule,
        "echoes.git_commit": git_commit(Path(source_dir)),
        "echoes.config_hash": config_hash({"model": entry, "training": training, "tuning": tuning}),
    }
    return run_training_job(
        features, manifest, Path(metrics).parent, spec, tracking=read_tracking_info(tracking_file),
        on_partial_video=on_partial_video, log_path=log_path, tags=tags,
    )  # fmt: skip


def run_training_job(
    features_path: Path,
    manifest_path: Path,
    out_dir: Path,
    spec: RunSpec,
    *,
    tracking: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    log_path: str | None = None,
    on_partial_video: str = "keep",
) -> dict:
    """Stage entry point: train, write the bundle ``model.pt`` and ``metrics.json``, and track it in MLflow.

    The MLflow run opens when training starts and closes with what it measured, the features it
    read (as the run's dataset input) and the model (an MLflow pyfunc over the bundle). The files
    are written before tracking finishes, so an unreachable tracking server costs a warning, never
    the result. With ``training.on_failure: report`` a model that fails (diverges, bad params, out
    of memory) writes a metrics file with ``status: failed``, the error and the log path instead of
    stopping the workflow, so the report still renders and marks that row; ``fail`` re-raises.
    """
    from echoes.tracking.experiment import run_name
    from echoes.tracking.runs import training_run

    out_dir = Path(out_dir)
    files = {"metrics": out_dir / "metrics.json", "model": out_dir / "model.pt", "features": Path(features_path)}
    space = dict(spec.search or spec.tune)
    params = {"model": spec.name, "class": spec.model_class, "space": space, "split": spec.split}
    with training_run(
        tracking,
        run_name(spec.name, spec.split, spec.seed),
        params=params | {"seed": spec.seed},
        tags={"echoes.device": spec.device, **(tags or {})},
    ) as tracked:
        example = None
        try:
            data = load_split(features_path, manifest_path, spec.split, on_partial_video)
            example = data.train_x[:2].numpy()
            metrics, model, normaliser = train_on_split(data, spec)
        except Exception as error:
            if spec.training.on_failure != "report":
                raise
            traceback.print_exc()
            print(f"WARNING: {spec.name} (split {spec.split}, seed {spec.seed}) failed; the report marks it as failed",
                  file=sys.stderr)  # fmt: skip
            metrics = failed_record(spec.name, spec.model_class, spec.params, spec.split, spec.seed, error, log_path)
            model = normaliser = None
        write_run(files["model"], metrics, model, normaliser)
        metrics = write_metrics(files["metrics"], metrics)
        tracked.finish(metrics, files, example)
    return metrics


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
