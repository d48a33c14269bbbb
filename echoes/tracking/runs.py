"""One MLflow run per training job: opened when training starts, logged and closed with what it wrote."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from echoes.tracking.experiment import init_experiment, resolve_tracking_uri

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
    tables: Mapping[str, Mapping[str, list]] = (),
    params: Mapping[str, Any] = (),
    tags: Mapping[str, str] = (),
    dataset: Mapping[str, Any] | None = None,
    model: Callable[[], None] | None = None,
    status: str = "FINISHED",
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
        client.set_terminated(run_id, status=status)
        return True
    except Exception as error:  # tracking must never cost the training result
        _warn(uri, name, error)
        return False


def log_metrics(client: Any, run_id: str, metrics: Mapping[str, float], history: Sequence[Mapping[str, float]]) -> None:
    """Per-epoch series at their epochs and wall-clock times, then the final metrics (step 0)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    series = [
        Metric(key, float(value), int(entry.get("timestamp", now)), int(entry["epoch"]))
        for entry in history
        for key, value in entry.items()
        if key not in ("epoch", "timestamp") and value is not None
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
    trials = tuning["trials"]
    keys = list(dict.fromkeys(k for t in trials for k in t["params"]))
    columns = {k: [t[k] for t in trials] for k in ("number", "state", "val_accuracy", "val_loss", "seconds")}
    return columns | {f"params.{k}": [t["params"].get(k) for t in trials] for k in keys}


class TrainingRun:
    """The MLflow run of one training job (a no-op without tracking): opened when training starts,
    finished with what the job wrote; a run whose job raised is closed as FAILED."""

    def __init__(self, uri: str | None, run_id: str | None, name: str) -> None:
        self.uri, self.run_id, self.name, self.finished = uri, run_id, name, False

    def finish(self, record: Mapping[str, Any], files: Mapping[str, Path], example: Any = None) -> None:
        """Log ``record`` (a ``metrics.json``): its metrics (the schema's), history, settings, the
        metrics file, the features as the run's dataset and the model (a pyfunc over ``files["model"]``)."""
        if self.run_id is None:
            return
        from echoes.contracts.metrics import mlflow_metrics
        from echoes.mlflow_model import log_model

        ok = record["status"] == "ok"
        finish_training_run(
            self.uri,
            self.run_id,
            self.name,
            metrics=mlflow_metrics(record) if ok else {},
            history=record["history"],
            artifacts=[files["metrics"]],
            tables={"tuning_trials.json": trial_table(record["tuning"])} if ok else {},
            params={
                "params": record["params"],
                "training": record.get("training", {}),
                "normalisation": record.get("normalisation", ""),
                "val_groups": ",".join(record.get("val_groups", [])),
                "clips": {k: record.get(k) for k in ("train_clips", "val_clips", "test_clips")},
            },
            tags={"echoes.status": record["status"], "echoes.device": record.get("device", "")},
            dataset=features_dataset(files["features"], record.get("features", {})) if ok else None,
            model=(lambda: log_model(files["model"], example)) if ok else None,
            status="FINISHED" if ok else "FAILED",
        )
        self.finished = True

    def fail(self) -> None:
        if self.run_id is not None and not self.finished:
            finish_training_run(self.uri, self.run_id, self.name, metrics={}, history=[], status="FAILED")
            self.finished = True


@contextmanager
def training_run(
    tracking: Mapping[str, str] | None, name: str, *, params: Mapping[str, Any], tags: Mapping[str, str]
) -> Iterator[TrainingRun]:
    """The MLflow run around one training job, from the workflow's tracking info (None: no tracking).

    The URI is the one in force when the job runs (``MLFLOW_TRACKING_URI`` wins), not the one
    ``init_tracking`` saw; the git commit tag is also MLflow's own source-commit tag, and the rule
    (``echoes.rule``) names the run's source (the UI's Source column).
    """
    if not tracking:
        yield TrainingRun(None, None, name)
        return
    tags = dict(tags)
    if tags.get("echoes.git_commit", "unknown") != "unknown":
        tags["mlflow.source.git.commit"] = tags["echoes.git_commit"]
    if "echoes.rule" in tags:  # MLflow's Source column: which rule and script made the run
        tags.setdefault("mlflow.source.name", f"rule {tags['echoes.rule']} (workflow/scripts/{tags['echoes.rule']}.py)")
        tags.setdefault("mlflow.source.type", "JOB")
    uri = resolve_tracking_uri(tracking.get("configured_uri") or tracking["tracking_uri"])
    artifact_root = Path(tracking["artifact_root"]) if "artifact_root" in tracking else None
    run_id = start_training_run(
        uri, tracking["experiment_name"], name, artifact_root=artifact_root, params=params, tags=tags
    )
    run = TrainingRun(uri, run_id, name)
    try:
        yield run
    except BaseException:
        run.fail()
        raise


def features_dataset(features_path: Path, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The features file as MLflow's dataset input: its digest and how it was made."""
    from echoes.files import sha256_file

    provenance = ("dataset", "backbone", "layer", "weights", "frames_per_clip", "frame_size", "precision")
    return {
        "name": f"{attrs.get('dataset', 'features')} features",
        "digest": sha256_file(features_path)[:16],
        "source": str(Path(features_path).resolve()),
        "profile": {k: attrs.get(k) for k in provenance},
    }
