"""The tracking stage: one model's finished runs logged to MLflow from their files, in one job.

Training jobs import no MLflow: importing it, opening its store and logging a model (whose
requirements MLflow checks against every installed distribution) cost a control's job more than
its work. One job per model pays that once for all of the model's runs, after they finish. Each
run keeps the wall-clock window its training job recorded, so MLflow shows real durations; a
killed training job leaves no MLflow run at all; and a run already logged from the same
``metrics.json`` is kept rather than logged again, so rerunning one seed adds one run.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from echoes.contracts.features import read_first_clips
from echoes.files import sha256_file, write_json
from echoes.tracking.experiment import (
    config_hash,
    experiment_name,
    git_commit,
    init_experiment,
    resolve_tracking_uri,
)
from echoes.tracking.runs import track_run


def track_model_job(
    run_dirs: Sequence[Path],
    features: Path,
    out: Path,
    *,
    uri: str,
    dataset: str,
    artifact_root: Path,
    settings: Mapping[str, Any],
    trained_by: str,
    source_dir: Path,
) -> dict[str, Any]:
    """Log each of one model's runs (``run_dirs``, each with ``metrics.json`` and ``model.pt``) to the
    dataset's experiment at ``uri`` (``MLFLOW_TRACKING_URI`` wins), created here if absent, under a
    file lock; write ``out``: the store, the experiment and each run's MLflow id (None where tracking
    failed, with a warning: tracking never costs a result).

    ``settings`` (the model's config entry and the training and tuning sections) is hashed into the
    runs' ``echoes.config_hash`` tag; ``trained_by`` is the rule whose jobs trained them.
    """
    uri = resolve_tracking_uri(uri)
    experiment = experiment_name(dataset)
    try:
        init_experiment(uri, experiment, artifact_root)
    except Exception as error:  # tracking never costs a result: the runs' files are complete already
        message = (
            f"MLflow tracking at {uri} failed, no run of this model was logged ({error}); "
            "`snakemake --forcerun track_model` logs them when it is reachable"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return write_record(out, uri, experiment, {str(run_dir): None for run_dir in run_dirs})
    tags = {
        "echoes.rule": trained_by,
        "echoes.git_commit": git_commit(Path(source_dir)),
        "echoes.config_hash": config_hash(settings),
    }
    example = read_first_clips(features, 2)  # the logged models' input example
    digest = sha256_file(features)  # once for all runs: every run of the model read this file
    runs = {
        str(run_dir): track_run(
            uri, experiment, Path(run_dir), features=features, features_digest=digest, example=example, tags=tags
        )
        for run_dir in tqdm(run_dirs, desc="MLflow runs", unit="run")
    }
    return write_record(out, uri, experiment, runs)


def write_record(out: Path, uri: str, experiment: str, runs: Mapping[str, str | None]) -> dict[str, Any]:
    """``results/models/<model>/mlflow.json``: where the runs went and each run's id (None: not logged)."""
    record = {"tracking_uri": uri, "experiment_name": experiment, "runs": dict(runs)}
    write_json(out, record)
    return record
