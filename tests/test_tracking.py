"""MLflow: one database created up front, runs logged with params, per-epoch and final metrics."""

import json
import multiprocessing
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from echoes.contracts.records import Epoch
from echoes.tracking.experiment import init_experiment, resolve_tracking_uri
from echoes.tracking.runs import finish_training_run, flatten, start_training_run
from tests.specs import spec


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


def test_relative_sqlite_uri_is_made_absolute_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri("sqlite:///results/mlflow.db") == f"sqlite:///{tmp_path}/results/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert resolve_tracking_uri("sqlite:///results/mlflow.db") == "http://tracking:5000"


def test_flatten_nests_keys_with_dots():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2]}) == {"a.b": "1", "a.c.d": "x", "e": "[1, 2]"}


@pytest.fixture
def experiment(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    info = init_experiment(uri, "echoes-test", tmp_path / "artifacts")
    assert init_experiment(uri, "echoes-test", tmp_path / "artifacts") == info  # idempotent
    return uri, tmp_path


def _log(uri, name, artifact=None):
    return log_training_run(
        uri,
        "echoes-test",
        name,
        params={"model": name, "params": {"reservoir_size": 10}},
        metrics={"accuracy_top1": 0.75, "train_time_s": 1.5},
        history=[Epoch(e, 0.5, 1.0, 1000 * e, loss=1.0 / e, val_accuracy=0.1 * e).record() for e in range(1, 4)],
        artifacts=[artifact] if artifact else [],
        tags={"echoes.device": "cpu"},
    )


def test_a_run_holds_params_metric_history_final_metrics_tags_and_artifacts(experiment):
    uri, folder = experiment
    (folder / "metrics.json").write_text("{}")
    run_id = _log(uri, "esn-split1-seed0", folder / "metrics.json")
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.run_name == "esn-split1-seed0" and run.info.status == "FINISHED"
    assert run.data.params["params.reservoir_size"] == "10"
    assert run.data.metrics["accuracy_top1"] == 0.75
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3]
    assert run.data.tags["echoes.device"] == "cpu"
    assert [a.path for a in client.list_artifacts(run_id)] == ["metrics.json"]
    assert str(folder / "artifacts") in run.info.artifact_uri


def _log_many(uri, worker):
    for round_ in range(3):
        assert _log(uri, f"w{worker}-r{round_}") is not None


@pytest.mark.slow
def test_four_processes_logging_at_once_lose_no_run_and_no_metric(experiment):
    uri, _ = experiment
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_log_many, args=(uri, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert all(w.exitcode == 0 for w in workers)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("echoes-test").experiment_id], max_results=100)
    assert sorted(r.info.run_name for r in runs) == sorted(f"w{w}-r{r}" for w in range(4) for r in range(3))
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 3
        assert run.data.metrics["accuracy_top1"] == 0.75


def test_logging_to_a_missing_experiment_warns_instead_of_raising(tmp_path):
    with pytest.warns(RuntimeWarning, match="does not exist"):
        assert _log(f"sqlite:///{tmp_path}/other.db", "x") is None


def _log_to_fresh(uri, root, worker):
    assert (
        log_training_run(
            uri,
            "echoes-fresh",
            f"job{worker}",
            artifact_root=root,
            params={"model": "m"},
            metrics={"accuracy_top1": 0.5},
            history=[Epoch(1, 0.5, 1.0, 1_700_000_000_000, loss=1.0).record()],
        )
        is not None
    )


@pytest.mark.slow
def test_a_deleted_database_is_created_once_by_eight_jobs_starting_together(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    context = multiprocessing.get_context("spawn")
    first = context.Process(target=init_experiment, args=(uri, "echoes-fresh", tmp_path / "artifacts"))
    first.start()
    first.join(120)
    (tmp_path / "mlflow.db").unlink()  # deleted after a first run created it
    workers = [context.Process(target=_log_to_fresh, args=(uri, tmp_path / "artifacts", w)) for w in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * 8
    with sqlite3.connect(tmp_path / "mlflow.db") as database:  # read as a new process would, not through a cache
        names = sorted(name for (name,) in database.execute("select name from runs where status = 'FINISHED'"))
    assert names == [f"job{w}" for w in range(8)]


def test_a_rerun_marks_a_run_a_killed_job_left_running_killed_and_the_earlier_finished_one_superseded(experiment):
    uri, folder = experiment
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("echoes-test").experiment_id
    finished = _log(uri, "esn-split1-seed0")
    killed = client.create_run(experiment_id, run_name="esn-split1-seed0")  # kill -9 while logging: RUNNING
    artifacts = Path(killed.info.artifact_uri.removeprefix("file://"))
    artifacts.mkdir(parents=True)
    (artifacts / ".artifact.uploading.abc").write_text("half")
    current = _log(uri, "esn-split1-seed0")
    ghost = client.get_run(killed.info.run_id).info
    assert ghost.status == "KILLED" and ghost.end_time is not None and not artifacts.exists()
    assert client.get_run(finished).data.tags["echoes.superseded"] == "true"
    assert "echoes.superseded" not in client.get_run(current).data.tags
    active = client.search_runs([experiment_id], filter_string="tags.`mlflow.runName` = 'esn-split1-seed0'")
    assert {r.info.run_id for r in active if r.info.status == "RUNNING"} == set()


def test_a_stale_temporary_of_a_killed_job_is_removed_when_the_output_is_written_again(tmp_path):
    from echoes.files import atomic_path

    stale = tmp_path / ".metrics.json.tmp-999999999"  # no such process
    stale.write_text("half-written")
    alive = tmp_path / f".metrics.json.tmp-{os.getppid()}"  # a running process's: maybe still writing
    alive.write_text("in progress")
    with atomic_path(tmp_path / "metrics.json") as tmp:
        tmp.write_text("{}")
    assert not stale.exists() and alive.exists() and (tmp_path / "metrics.json").read_text() == "{}"


def track(run_dir: Path, features: Path, uri: str, tmp_path: Path, **settings) -> dict:
    """The track_model job over one run, as the workflow runs it."""
    from echoes.stages.track import track_model_job

    return track_model_job(
        [run_dir], features, tmp_path / "mlflow.json", uri=uri, dataset="test", artifact_root=tmp_path / "artifacts",
        settings=settings, trained_by="train_model", source_dir=tmp_path,
    )  # fmt: skip


def test_a_training_job_imports_no_mlflow():
    """Tracking is the track_model job's: a training job pays for its work, not for MLflow's imports."""
    import subprocess
    import sys

    code = "import sys, echoes.stages.train; print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_runs_are_logged_to_the_uri_in_force_when_the_tracking_job_runs(temporal_order_task, tmp_path, monkeypatch):
    from echoes.stages.train import run_training_job

    first, later = f"sqlite:///{tmp_path}/first.db", f"sqlite:///{tmp_path}/later.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", later)  # set after the workflow was configured: it must not be ignored
    features, manifest = temporal_order_task
    run_training_job(features, manifest, tmp_path / "run", spec("SimpleESN", {"reservoir_size": 20}, name="esn"))
    track(tmp_path / "run", features, first, tmp_path)
    assert not (tmp_path / "first.db").exists()
    with sqlite3.connect(tmp_path / "later.db") as database:
        assert [name for (name,) in database.execute("select name from runs")] == ["esn-split1-seed0"]


def test_an_unreachable_tracking_store_costs_a_warning_never_the_runs_files(temporal_order_task, tmp_path, monkeypatch):
    from echoes.stages.train import run_training_job

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    features, manifest = temporal_order_task
    run_training_job(features, manifest, tmp_path / "run", spec("SimpleESN", {"reservoir_size": 20}, name="esn"))
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.warns(RuntimeWarning, match="forcerun track_model"):
        record = track(tmp_path / "run", features, "http://127.0.0.1:9", tmp_path)
    assert record["runs"] == {str(tmp_path / "run"): None}
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before and (tmp_path / "run" / "model.pt").is_file()


def test_a_run_logged_already_is_kept_and_a_rerun_replaces_it(temporal_order_task, tmp_path, monkeypatch):
    """The tracking job reruns when any of a model's runs changes: unchanged runs are not logged twice."""
    from echoes.stages.train import run_training_job

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    features, manifest = temporal_order_task
    esn = spec("SimpleESN", {"reservoir_size": 20}, name="esn")
    run_training_job(features, manifest, tmp_path / "run", esn)
    first = track(tmp_path / "run", features, uri, tmp_path)["runs"]
    assert track(tmp_path / "run", features, uri, tmp_path)["runs"] == first
    run_training_job(features, manifest, tmp_path / "run", esn)  # a rerun: a new metrics.json (its times)
    second = track(tmp_path / "run", features, uri, tmp_path)["runs"]
    client = MlflowClient(uri)
    (old,), (new,) = first.values(), second.values()
    assert new != old and client.get_run(old).data.tags["echoes.superseded"] == "true"
    assert "echoes.superseded" not in client.get_run(new).data.tags


def test_a_training_run_is_tracked_the_mlflow_way(temporal_order_task, tmp_path, monkeypatch, capfd):
    """The training job's real duration and epoch timestamps, bookkeeping as params, the git commit and
    the rule as MLflow's source, the features as dataset, and an MLflow model (logged from code, not
    pickled) that classifies raw features as the evaluation did; the tracking job's log holds no
    library warning a user would have to learn to ignore."""
    import time

    import mlflow

    from echoes.stages.train import run_training_job
    from echoes.training.data import load_split

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("echoes.stages.track.git_commit", lambda path: "abc123")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    features, manifest = temporal_order_task
    started = time.time() * 1000
    lstm = spec("SimpleRNN", {"hidden_size": 8}, {"max_epochs": 6, "patience": 6, "learning_rate": 3e-3}, name="lstm",
                grid={"normalisation": ["global", "clip_mean"]})  # fmt: skip
    metrics = run_training_job(features, manifest, tmp_path / "run", lstm)
    track(tmp_path / "run", features, uri, tmp_path, model={"class": "SimpleRNN"})
    log = "".join(capfd.readouterr())
    assert "Add type hints" not in log and "CloudPickle" not in log and "Warning" not in log
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("echoes-test")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.info.status == "FINISHED"
    assert (run.info.start_time, run.info.end_time) == (metrics["started_ms"], metrics["ended_ms"])  # the job's
    assert run.info.end_time - run.info.start_time >= 1000 * metrics["train_time_s"]
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == list(range(1, metrics["epochs"] + 1))
    assert all(m.timestamp >= started for m in history)
    assert {"split", "seed", "clips.test_clips"} <= set(run.data.params) and "split" not in run.data.metrics
    assert "accuracy_top1" in run.data.metrics and "format" not in run.data.metrics
    assert run.data.tags["mlflow.source.git.commit"] == "abc123"
    assert run.data.tags["mlflow.source.name"] == "rule train_model (workflow/scripts/train_model.py)"
    assert run.inputs.dataset_inputs[0].dataset.name == "test features"
    trials = json.loads(
        Path(client.download_artifacts(run.info.run_id, "tuning_trials.json", str(tmp_path))).read_text()
    )
    assert len(trials["data"]) == len(metrics["tuning"]["trials"]) and "params.normalisation" in trials["columns"]

    assert os.environ.get("MLFLOW_TRACKING_URI") is None  # logging the model left the process's URI as it was
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    data = load_split(features, manifest, split=1)
    scores = model.predict(data.test_x.numpy())
    predicted = scores.argmax(1)
    confusion = [[0, 0], [0, 0]]
    for truth, guess in zip(data.test_y.tolist(), predicted.tolist(), strict=True):
        confusion[truth][guess] += 1
    assert confusion == metrics["confusion"]
    assert np.allclose(scores.sum(1), 1.0, atol=1e-5)  # an LSTM's scores are probabilities
