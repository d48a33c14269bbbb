"""MLflow: one database created up front, runs logged with params, per-epoch and final metrics."""

import multiprocessing

import pytest
from mlflow.tracking import MlflowClient

from echoes.tracking import flatten, init_experiment, log_training_run, resolve_tracking_uri


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
        history=[{"epoch": e, "loss": 1.0 / e, "val_accuracy": 0.1 * e} for e in range(1, 4)],
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
