"""A shared tracking server: a real `mlflow server` on 127.0.0.1, a training job logging to it."""

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from echoes.stages.track import track_model_job
from echoes.stages.train import run_training_job
from tests.processes import stop_process
from tests.specs import spec

pytestmark = pytest.mark.slow  # a real mlflow server: left out of the fast tier


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` with a SQLite backend and proxied artifact storage, as the README shows."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed when the server stops
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url, folder
    stop_process(server)
    log.close()


def test_a_training_job_logs_its_run_and_artifacts_to_the_server(mlflow_server, temporal_order_task, tmp_path):
    url, folder = mlflow_server
    features, manifest = temporal_order_task
    esn = spec("SimpleESN", {"reservoir_size": 20}, {"max_epochs": 1})
    run_training_job(features, manifest, tmp_path / "run", esn)
    track_model_job(
        [tmp_path / "run"], features, tmp_path / "mlflow.json", uri=url, dataset="shared",
        artifact_root=tmp_path / "unused", settings={}, trained_by="train_model", source_dir=tmp_path,
    )  # fmt: skip

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("echoes-shared")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "SimpleESN-split1-seed0" and run.info.status == "FINISHED"
    assert 0.0 <= run.data.metrics["accuracy_top1"] <= 1.0
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"metrics.json"}
    import mlflow

    mlflow.set_tracking_uri(url)
    try:
        loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")  # the bundle, as an MLflow model
    finally:
        mlflow.set_tracking_uri(None)
    assert loaded.metadata.metadata["scores"] == "ridge score"
    assert list((folder / "artifacts").rglob("metrics.json"))  # stored by the server, not beside the job
    assert not (tmp_path / "unused").exists()


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace_period():
    ignoring = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)"
    )
    process = subprocess.Popen([sys.executable, "-c", ignoring], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout.readline() == b"up\n"
    started = time.monotonic()
    assert stop_process(process, grace=1.0) == -9
    assert time.monotonic() - started < 20
