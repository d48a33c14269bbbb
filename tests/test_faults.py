"""Fault injection: jobs killed part-way (SIGKILL, as an OOM killer or a scheduler's hard limit does) leave
nothing that looks finished, and the next plain run rebuilds exactly what an uninterrupted run had."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

from tests.test_workflow import NOTHING_TO_DO, ROOT, TINY_CONFIG, snakemake

MODELS = ("MeanOfFrames", "SimpleRNN")  # a closed-form and a gradient job: the two kinds a kill can hit
CONFIG = {**TINY_CONFIG, "models": {name: TINY_CONFIG["models"][name] for name in MODELS}}
RUN = "results/models/{}/runs/split1-seed0"
#: What a rerun must reproduce exactly of a run's metrics (times and memory are measured anew).
REPRODUCED = ("accuracy_top1", "accuracy_top5", "params", "trainable_params", "confusion", "val_accuracy", "tuning")


def fingerprint(workdir: Path) -> dict[str, object]:
    """features.h5's arrays, every model.pt's bytes, and the reproducible part of every metrics.json."""
    prints: dict[str, object] = {}
    with h5py.File(workdir / "data/synthetic/features.h5") as h5:
        for name in ("features", "labels", "groups"):
            prints[f"features.h5:{name}"] = hashlib.sha256(h5[name][()].tobytes()).hexdigest()
        for name in ("video_ids", "classes"):  # strings: their values, not the object array's pointers
            prints[f"features.h5:{name}"] = [value.decode() for value in h5[name][()]]
    for model in MODELS:
        run = workdir / RUN.format(model)
        prints[f"{model}/model.pt"] = hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
        metrics = json.loads((run / "metrics.json").read_text())
        tuning = [{k: t[k] for k in ("params", "val_accuracy", "val_loss")} for t in metrics["tuning"]["trials"]]
        prints[f"{model}/metrics"] = {k: metrics[k] for k in REPRODUCED if k != "tuning"} | {"trials": tuning}
    return prints


def leftovers(workdir: Path) -> list[Path]:
    """Temporary files of a write that never finished (``atomic_path`` names them ``.<name>.tmp-<pid>``)."""
    return [p for folder in ("data", "results") for p in (workdir / folder).rglob(".*.tmp-*")]


def running_mlflow_runs(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "results/mlflow.db") as database:
        return [name for (name,) in database.execute("select name from runs where status = 'RUNNING'")]


def kill_when(workdir: Path, args: list[str], started: callable, timeout: float = 300) -> None:
    """Run snakemake with ``args`` in its own process group and SIGKILL the group (snakemake and its
    job) as soon as ``started()`` says the job is part-way; then ``--unlock``, as Snakemake's message
    after a kill tells a user to."""
    command = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(ROOT / "Snakefile"), "--directory",
               str(workdir), "--cores", "2", "--configfile", str(workdir / "config.yaml")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": ""}
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not started():
            assert process.poll() is None, "the job finished before it could be killed"
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    snakemake(workdir, "--unlock")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("faults")
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    snakemake(workdir)
    return workdir, fingerprint(workdir)


@pytest.mark.e2e
def test_killed_feature_extraction_and_training_jobs_are_rebuilt_as_an_uninterrupted_run_had_them(finished):
    workdir, uninterrupted = finished
    features = workdir / "data/synthetic"
    kill_when(workdir, ["--forcerun", "extract_features"], lambda: any(features.glob(".features.h5.tmp-*")))
    assert not (features / "features.h5").exists()  # Snakemake removed it before the job: nothing looks finished
    assert "extract_features" in snakemake(workdir)

    run, log = workdir / RUN.format("SimpleRNN"), workdir / "logs/train/SimpleRNN/split1-seed0.log"
    started = time.time()
    kill_when(workdir, ["--force", f"{RUN.format('SimpleRNN')}/metrics.json"],
              lambda: log.exists() and log.stat().st_mtime > started and log.stat().st_size > 0)  # fmt: skip
    assert not (run / "metrics.json").exists() and not (run / "model.pt").exists()
    assert running_mlflow_runs(workdir) == []  # a training job opens no MLflow run: a kill leaves none

    # the track_model job logs a new run of a retrained model: killed while it logs, it leaves a ghost
    kill_when(workdir, ["results/models/MeanOfFrames/mlflow.json", "--forcerun", "train_model"],
              lambda: "MeanOfFrames-split1-seed0" in running_mlflow_runs(workdir))  # fmt: skip
    assert running_mlflow_runs(workdir) == ["MeanOfFrames-split1-seed0"]
    rerun = snakemake(workdir)
    assert "train_model" in rerun and "report" in rerun  # the hole is filled, though the report still existed
    assert "track_model" in rerun

    assert fingerprint(workdir) == uninterrupted
    assert leftovers(workdir) == []
    assert running_mlflow_runs(workdir) == []
    assert NOTHING_TO_DO in snakemake(workdir, "-n")
