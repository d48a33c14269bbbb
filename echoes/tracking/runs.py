"""One MLflow run per training job, logged from the files the job wrote (its ``metrics.json`` and ``model.pt``)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from echoes.contracts.records import Epoch, FeatureAttrs, TrialRecord
from echoes.tracking.experiment import init_experiment

log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; MLflow params are flat strings of bounded length."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def retire_earlier_runs(client: Any, experiment_id: str, name: str) -> None:
    """Earlier runs of ``name`` (one model, split and seed): those still RUNNING, left by a killed job
    (SIGKILL ends a process before it can end its run), are marked KILLED with an end time and lose
    their half-written local artifacts, so the UI shows no ghost run; every earlier run is tagged
    ``echoes.superseded``."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    quoted = name.replace("'", "\\'")
    for run in client.search_runs([experiment_id], filter_string=f"tags.`mlflow.runName` = '{quoted}'"):
        if run.info.status in ("RUNNING", "SCHEDULED"):
            client.set_terminated(run.info.run_id, status="KILLED")
            if run.info.artifact_uri.startswith("file:"):
                shutil.rmtree(local_file_uri_to_path(run.info.artifact_uri), ignore_errors=True)
        client.set_tag(run.info.run_id, "echoes.superseded", "true")


def _client_for(uri: str, experiment: str, artifact_root: Path | None) -> tuple[Any, str]:
    from mlflow.tracking import MlflowClient

    if artifact_root is not None:  # checked where it is used: a deleted database or a new URI is created once
        experiment_id = init_experiment(uri, experiment, artifact_root)["experiment_id"]
    else:
        found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
        if found is None:
            raise RuntimeError(f"experiment {experiment!r} does not exist at {uri} (the track_model job creates it)")
        experiment_id = found.experiment_id
    return MlflowClient(tracking_uri=uri), experiment_id


def _warn(uri: str, name: str, error: Exception) -> None:
    message = f"MLflow tracking at {uri} failed; run {name!r} was not (fully) logged: {error}"
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    log.warning(message)


def start_training_run(
    uri: str,
    experiment: str,
    name: str,
    *,
    artifact_root: Path | None = None,
    params: Mapping[str, Any],
    tags: Mapping[str, str] = (),
    start_time: int | None = None,
) -> str | None:
    """Open the run (at ``start_time``, ms, when its job started: MLflow shows the job's real duration);
    its id, or None with a warning."""
    from mlflow.entities import Param

    try:
        client, experiment_id = _client_for(uri, experiment, artifact_root)
        retire_earlier_runs(client, experiment_id, name)
        run_id = client.create_run(experiment_id, start_time=start_time, run_name=name, tags=dict(tags)).info.run_id
        client.log_batch(run_id, params=[Param(k, v) for k, v in flatten(params).items()])
        return run_id
    except Exception as error:  # tracking must never cost the training result
        _warn(uri, name, error)
        return None


def finish_training_run(
    uri: str,
    run_id: str,
    name: str,
    *,
    metrics: Mapping[str, float],
    history: Sequence[Mapping[str, float]],
    artifacts: Sequence[Path] = (),
    tables: Mapping[str, Mapping[str, list]] = (),
    params: Mapping[str, Any] = (),
    tags: Mapping[str, str] = (),
    dataset: Mapping[str, Any] | None = None,
    model: Callable[[], None] | None = None,
    status: str = "FINISHED",
    end_time: int | None = None,
) -> bool:
    """Log what training measured and close the run; False (with a warning) if tracking failed.

    ``history`` entries carry ``epoch`` (the step) and ``timestamp`` (ms, when the epoch ended);
    ``tables`` are ``{artifact file: {column: values}}``, shown as tables in the run's artifacts;
    ``dataset`` (name, digest, source, profile) is logged as the run's input; ``model`` logs the
    MLflow model inside the run.
    """
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        log_metrics(client, run_id, metrics, history)
        client.log_batch(run_id, params=[Param(k, v) for k, v in flatten(dict(params)).items()])
        for key, value in dict(tags).items():
            client.set_tag(run_id, key, value)
        if dataset is not None:
            log_dataset(client, run_id, dataset)
        for artifact in artifacts:
            client.log_artifact(run_id, str(artifact))
        for artifact_file, columns in dict(tables).items():
            with warnings.catch_warnings():  # MLflow's own pandas call, deprecated in pandas 3: not the user's to fix
                warnings.filterwarnings("ignore", message="For backward compatibility, 'str' dtypes")
                client.log_table(run_id, data=dict(columns), artifact_file=artifact_file)
        if model is not None:
            log_model_in_run(uri, run_id, model)
        client.set_terminated(run_id, status=status, end_time=end_time)
        return True
    except Exception as error:  # tracking must never cost the training result
        _warn(uri, name, error)
        return False


def log_metrics(client: Any, run_id: str, metrics: Mapping[str, float], history: Sequence[Mapping[str, float]]) -> None:
    """Per-epoch series at their epochs and wall-clock times, then the final metrics (step 0)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    series = [
        Metric(key, float(value), epoch.timestamp, epoch.epoch)
        for epoch in map(Epoch.read, history)
        for key, value in epoch.metrics().items()
    ]
    every = series + [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
    for start in range(0, len(every), 900):
        client.log_batch(run_id, metrics=every[start : start + 900])


def log_dataset(client: Any, run_id: str, dataset: Mapping[str, Any]) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    entity = Dataset(
        name=dataset["name"],
        digest=dataset["digest"],
        source_type="local",
        source=json.dumps({"uri": dataset["source"]}),
        profile=json.dumps(dataset.get("profile", {}), default=str),
    )
    client.log_inputs(run_id, datasets=[DatasetInput(entity, [InputTag("mlflow.data.context", "training")])])


def log_model_in_run(uri: str, run_id: str, model: Callable[[], None]) -> None:
    """Run ``model`` (which logs an MLflow model) inside the run: the fluent API logs models, and its
    URI is process-wide (exported as MLFLOW_TRACKING_URI), so it is restored afterwards."""
    import mlflow

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=run_id):
            model()
    finally:
        mlflow.set_tracking_uri(saved)


def trial_table(tuning: Mapping[str, Any]) -> dict[str, list]:
    """Every tuning trial as a row (number, state, validation scores, seconds, one column per setting):
    one table artifact reads better in the MLflow UI than a child run per trial."""
    trials = [TrialRecord.read(t) for t in tuning["trials"]]
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    columns = {k: [getattr(t, k) for t in trials] for k in ("number", "state", "val_accuracy", "val_loss", "seconds")}
    return columns | {f"params.{k}": [t.params.get(k) for t in trials] for k in keys}


def track_run(
    uri: str,
    experiment: str,
    run_dir: Path,
    *,
    features: Path,
    features_digest: str,
    example: Any,
    artifact_root: Path | None = None,
    tags: Mapping[str, str] = (),
) -> str | None:
    """Log one finished job's files (``metrics.json``, ``model.pt`` in ``run_dir``) as its MLflow run,
    spanning the job's own wall-clock window; the run's id, or None with a warning.

    A run already logged from the same ``metrics.json`` (its SHA-256 tagged ``echoes.metrics_sha256``)
    is kept, not logged twice; otherwise earlier runs of the name are retired
    (:func:`retire_earlier_runs`). A failed job's run is closed FAILED with its error as a tag.
    """
    from echoes.contracts.metrics import mlflow_metrics, read_metrics
    from echoes.files import sha256_file
    from echoes.tracking.experiment import run_name
    from echoes.tracking.model import log_model

    files = {"metrics": Path(run_dir) / "metrics.json", "model": Path(run_dir) / "model.pt"}
    record = read_metrics(files["metrics"])
    name = run_name(record["model"], record["split"], record["seed"])
    digest = sha256_file(files["metrics"])
    if (logged := logged_run(uri, experiment, name, digest)) is not None:
        return logged
    run_id = start_training_run(uri, experiment, name, artifact_root=artifact_root, params=run_identity(record),
                                tags=run_tags(record, digest, tags), start_time=record.get("started_ms"))  # fmt: skip
    if run_id is None:
        return None
    ok = record["status"] == "ok"
    done = finish_training_run(
        uri, run_id, name, metrics=mlflow_metrics(record) if ok else {}, history=record["history"],
        artifacts=[files["metrics"]], params=run_settings(record),
        tables={"tuning_trials.json": trial_table(record["tuning"])} if ok else {},
        dataset=features_dataset(features, features_digest, record.get("features", {})) if ok else None,
        model=(lambda: log_model(files["model"], example)) if ok else None,
        status="FINISHED" if ok else "FAILED", end_time=record.get("ended_ms"),
    )  # fmt: skip
    return run_id if done else None


def run_identity(record: Mapping[str, Any]) -> dict[str, Any]:
    """The params that name what ran: the model entry, its class, split and seed, the space searched."""
    return {k: record.get(k) for k in ("model", "class", "split", "seed")} | {
        "space": record.get("tuning", {}).get("space", {})
    }


def run_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """The run's settings as MLflow params: the model's, training's, the normalisation chosen, the clips."""
    return {
        "params": record["params"],
        "training": record.get("training", {}),
        "normalisation": record.get("normalisation", ""),
        "val_groups": ",".join(record.get("val_groups", [])),
        "clips": {k: record.get(k) for k in ("train_clips", "val_clips", "test_clips")},
    }


def run_tags(record: Mapping[str, Any], digest: str, tags: Mapping[str, str]) -> dict[str, str]:
    """The run's tags: the job's (rule, commit, config hash), its status and device, the digest of its
    ``metrics.json``, the git commit as MLflow's own source tag and the rule as the UI's Source column."""
    tags = dict(tags) | {
        "echoes.status": record["status"],
        "echoes.device": record.get("device", ""),
        "echoes.metrics_sha256": digest,
    }
    if record["status"] != "ok":
        tags["echoes.error"] = str(record.get("error", ""))[:MAX_PARAM_LENGTH]
    if tags.get("echoes.git_commit", "unknown") != "unknown":
        tags["mlflow.source.git.commit"] = tags["echoes.git_commit"]
    if "echoes.rule" in tags:
        tags.setdefault("mlflow.source.name", f"rule {tags['echoes.rule']} (workflow/scripts/{tags['echoes.rule']}.py)")
        tags.setdefault("mlflow.source.type", "JOB")
    return tags


def logged_run(uri: str, experiment: str, name: str, digest: str) -> str | None:
    """The id of a closed, current run of ``name`` logged from the metrics file with SHA-256 ``digest``."""
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return None
        quoted = name.replace("'", "\\'")
        runs = client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`mlflow.runName` = '{quoted}' and tags.`echoes.metrics_sha256` = '{digest}'",
        )
    except Exception:  # an unreachable store: logging it again will warn
        return None
    current = [r for r in runs if r.info.status in ("FINISHED", "FAILED") and "echoes.superseded" not in r.data.tags]
    return current[0].info.run_id if current else None


def features_dataset(features_path: Path, digest: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The features file as MLflow's dataset input: its digest (SHA-256, hashed once per tracking job: a
    UCF101 features file is hundreds of MB) and how it was made."""
    made = FeatureAttrs.read(attrs)
    provenance = ("dataset", "backbone", "layer", "weights", "frames_per_clip", "frame_size", "precision")
    return {
        "name": f"{made.dataset} features",
        "digest": digest[:16],
        "source": str(Path(features_path).resolve()),
        "profile": {k: getattr(made, k) for k in provenance},
    }
