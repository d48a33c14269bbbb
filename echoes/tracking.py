"""MLflow tracking: one experiment per dataset, one run per (model, split, seed).

The database and the experiment are created by one process at a time: a new SQLite database
created by several processes at once breaks for good (Alembic migration race). The
``init_tracking`` job creates them before training starts, and every training job checks again
under the same file lock (``<db>.lock``), so a database deleted later, or a tracking URI changed
since (``MLFLOW_TRACKING_URI`` wins over ``tracking.uri``, read when the job runs), is created once,
safely, even with many jobs starting together.

A rerun of a (model, split, seed) deletes runs of that name left RUNNING by a killed job (with
their local artifact folder, ``.artifact.uploading.*`` files included) and tags the earlier
finished ones ``echoes.superseded``, so the experiment shows one current run per name. A tracking
failure never loses a training result: the caller writes ``metrics.json`` first and this module
only warns about what it could not log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from echoes.files import read_json, write_json

log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000


def resolve_tracking_uri(configured: str) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the configured URI with a relative SQLite path made absolute."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        path = Path(uri[len(prefix) :]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(path)
    return uri


def experiment_name(dataset: str) -> str:
    return f"echoes-{dataset}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


@contextmanager
def creation_lock(uri: str) -> Iterator[None]:
    """Hold ``<db>.lock`` while a SQLite database or an experiment may be created (no-op for servers)."""
    database = sqlite_path(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def init_experiment(uri: str, name: str, artifact_root: Path) -> dict[str, str]:
    """Create the tracking database (if new) and the experiment (if absent), one process at a time."""
    with creation_lock(uri):
        return _init_experiment(uri, name, artifact_root)


def _init_experiment(uri: str, name: str, artifact_root: Path) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        # A tracking server stores artifacts where it was told to (--artifacts-destination), reachable
        # from every node; only a local database gets a local artifact folder.
        remote = uri.startswith(("http://", "https://"))
        location = None if remote else (Path(artifact_root).resolve() / name).as_uri()
        # marks the experiment as model training for the UI's kind selector (3.17 still opens its GenAI
        # overview first: README gives the training-runs URL)
        experiment_id = client.create_experiment(
            name, artifact_location=location, tags={"mlflow.experimentKind": "custom_model_development"}
        )
    else:
        experiment_id = experiment.experiment_id
    return {
        "tracking_uri": uri,
        "experiment_name": name,
        "experiment_id": experiment_id,
        "artifact_root": str(Path(artifact_root).resolve()),
    }


def write_tracking_info(path: Path, info: Mapping[str, str]) -> None:
    """``results/tracking/<dataset>.json``: the URI and experiment every training job of the workflow logs to."""
    write_json(path, info)


def read_tracking_info(path: Path) -> dict[str, str]:
    return read_json(path)


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


def config_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit(path: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(model: str, split: int, seed: int) -> str:
    return f"{model}-split{split}-seed{seed}"


def retire_earlier_runs(client: Any, experiment_id: str, name: str) -> None:
    """Delete runs of ``name`` left RUNNING by a killed job (and their local artifacts); tag finished ones."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    quoted = name.replace("'", "\\'")
    for run in client.search_runs([experiment_id], filter_string=f"tags.`mlflow.runName` = '{quoted}'"):
        if run.info.status == "RUNNING":
            client.delete_run(run.info.run_id)
            if run.info.artifact_uri.startswith("file:"):
                shutil.rmtree(local_file_uri_to_path(run.info.artifact_uri), ignore_errors=True)
        else:
            client.set_tag(run.info.run_id, "echoes.superseded", "true")


def _client_for(uri: str, experiment: str, artifact_root: Path | None) -> tuple[Any, str]:
    from mlflow.tracking import MlflowClient

    if artifact_root is not None:  # checked where it is used: a deleted database or a new URI is created once
        experiment_id = init_experiment(uri, experiment, artifact_root)["experiment_id"]
    else:
        found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
        if found is None:
            raise RuntimeError(f"experiment {experiment!r} does not exist at {uri} (init_tracking creates it)")
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
) -> str | None:
    """Open the run when training starts (so MLflow shows its real duration); its id, or None with a warning."""
    from mlflow.entities import Param

    try:
        client, experiment_id = _client_for(uri, experiment, artifact_root)
        retire_earlier_runs(client, experiment_id, name)
        run_id = client.create_run(experiment_id, run_name=name, tags=dict(tags)).info.run_id
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
    params: Mapping[str, Any] = (),
    tags: Mapping[str, str] = (),
    dataset: Mapping[str, Any] | None = None,
    model: Callable[[], None] | None = None,
    status: str = "FINISHED",
) -> bool:
    """Log what training measured and close the run; False (with a warning) if tracking failed.

    ``history`` entries carry ``epoch`` (the step) and ``timestamp`` (ms, when the epoch ended);
    ``dataset`` (name, digest, source, profile) is logged as the run's input; ``model`` logs the
    MLflow model inside the run.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        now = int(time.time() * 1000)
        series = [
            Metric(key, float(value), int(entry.get("timestamp", now)), int(entry["epoch"]))
            for entry in history
            for key, value in entry.items()
            if key not in ("epoch", "timestamp") and value is not None
        ]
        final = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
        for start in range(0, len(series + final), 900):
            client.log_batch(run_id, metrics=(series + final)[start : start + 900])
        client.log_batch(run_id, params=[Param(k, v) for k, v in flatten(dict(params)).items()])
        for key, value in dict(tags).items():
            client.set_tag(run_id, key, value)
        if dataset is not None:
            entity = Dataset(
                name=dataset["name"],
                digest=dataset["digest"],
                source_type="local",
                source=json.dumps({"uri": dataset["source"]}),
                profile=json.dumps(dataset.get("profile", {}), default=str),
            )
            client.log_inputs(run_id, datasets=[DatasetInput(entity, [InputTag("mlflow.data.context", "training")])])
        for artifact in artifacts:
            client.log_artifact(run_id, str(artifact))
        if model is not None:
            import mlflow

            # the fluent API logs models; its URI is process-wide (and exported as MLFLOW_TRACKING_URI): restore it
            saved = os.environ.get("MLFLOW_TRACKING_URI")
            mlflow.set_tracking_uri(uri)
            try:
                with mlflow.start_run(run_id=run_id):
                    model()
            finally:
                mlflow.set_tracking_uri(saved)
        client.set_terminated(run_id, status=status)
        return True
    except Exception as error:  # tracking must never cost the training result
        _warn(uri, name, error)
        return False


def log_training_run(
    uri: str,
    experiment: str,
    name: str,
    *,
    artifact_root: Path | None = None,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    history: Sequence[Mapping[str, float]],
    artifacts: Sequence[Path] = (),
    tags: Mapping[str, str] = (),
    status: str = "FINISHED",
) -> str | None:
    """Open and close one run at once (a run whose training happened elsewhere); its id, or None."""
    run_id = start_training_run(uri, experiment, name, artifact_root=artifact_root, params=params, tags=tags)
    if run_id is None:
        return None
    ok = finish_training_run(uri, run_id, name, metrics=metrics, history=history, artifacts=artifacts, status=status)
    return run_id if ok else None
