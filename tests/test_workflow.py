"""End to end: the real snakemake CLI on a tiny config, its caching, and targeted reruns."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from echoes.devices import available_cores
from echoes.planning.runlog import job_spans, most_at_once

ROOT = Path(__file__).resolve().parents[1]
NOTHING_TO_DO = "Nothing to be done (all requested files are present and up to date)."

#: The ESNs' default space without its reservoir sizes (500-1000 units: minutes of a tiny test's time).
TINY_ESN_SPACE = {
    "leak_rate": {"low": 0.05, "high": 1.0, "log": True},
    "representation": ["model_space", "last_mean"],
    "bidirectional": [True, False],
    "normalisation": ["global", "clip_mean"],
}
TINY_CONFIG = {
    "synthetic": {"num_classes": 4, "clips_per_class": 9, "groups": 4, "frames": 8, "width": 64, "height": 48},
    "seeds": [0],
    "frames": {"per_clip": 4, "size": 32, "shards": 2},
    "features": {"batch_size": 32, "precision": "fp32", "weights": "random"},
    "threads": 1,
    "training": {"max_epochs": 3, "batch_size": 16, "patience": 3},
    "models": {
        "MeanOfFrames": {"class": "MeanOfFrames"},
        "SimpleRNN": {"class": "SimpleRNN", "params": {"hidden_size": 16}},
        "DeepRNN": {"class": "DeepRNN", "params": {"hidden_size": 16, "num_layers": 2}},
        "SimpleESN": {"class": "SimpleESN", "params": {"reservoir_size": 40}, "search": TINY_ESN_SPACE},
        "DeepESN": {
            "class": "DeepESN",
            "params": {"reservoir_size": 20, "num_reservoirs": 2},
            "search": TINY_ESN_SPACE,
        },
        "MyGRU": {"class": "tests.user_models.MyCustomRNN", "params": {"hidden_size": 8}},
        "Broken": {"class": "tests.user_models.DivergingRNN"},
    },
}


def snakemake(workdir: Path, *args: str, snakefile: Path = ROOT / "Snakefile") -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *args,
            "--snakefile",
            str(snakefile),
            "--directory",
            str(workdir),
            "--cores",
            "2",
            "--resources",
            "gpu=2",  # gates CUDA jobs only: here every PyTorch job runs on the CPU, side by side up to --cores
            "--configfile",
            str(workdir / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def pending_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = output.split("Job stats:")[1].split("Reasons:")[0] if "Job stats:" in output else ""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    (workdir / "snakemake.log").write_text(snakemake(workdir))
    return workdir


@pytest.mark.e2e
def test_the_report_has_a_measured_row_per_configured_model(workflow_run):
    report = (workflow_run / "results" / "comparison.md").read_text()
    broken = next(line for line in report.splitlines() if line.startswith("| Broken"))
    assert "**failed**: TrainingDiverged" in broken and "logs/train/Broken/split1-seed0.log" in broken
    for name in set(TINY_CONFIG["models"]) - {"Broken"}:
        row = next(line for line in report.splitlines() if line.startswith(f"| {name}"))
        accuracy = float(row.split("|")[3].strip())
        assert 0.0 <= accuracy <= 100.0
        assert (workflow_run / "results" / "models" / name / "metrics.json").is_file()
    assert (workflow_run / "results" / "figures" / "accuracy_vs_time.png").is_file()
    assert (workflow_run / "results" / "mlflow.db").is_file()
    runs = workflow_run / "results" / "models"
    kinds = {m: json.loads((runs / m / "runs/split1-seed0/metrics.json").read_text()).get("kind") for m in
             ("MyGRU", "SimpleRNN", "DeepESN", "MeanOfFrames")}  # fmt: skip
    assert kinds == {"MyGRU": "GRU", "SimpleRNN": "LSTM", "DeepESN": "ESN", "MeanOfFrames": "control"}


@pytest.mark.e2e
@pytest.mark.skipif(available_cores() < 2, reason="one CPU: CPU jobs run one at a time")
def test_cpu_training_jobs_run_side_by_side_up_to_the_cores_whatever_the_gpu_resource(workflow_run):
    """--cores 2 and 1-thread jobs on a machine without a GPU: two training jobs at once."""
    assert most_at_once(job_spans((workflow_run / "snakemake.log").read_text()), "train_model") == 2


@pytest.mark.e2e
def test_a_tracking_job_takes_a_cpu_of_its_own_and_never_runs_beside_two_training_jobs(workflow_run):
    """Its MLflow work would otherwise compete with the training jobs whose times are measured."""
    assert most_at_once(job_spans((workflow_run / "snakemake.log").read_text()), "train_model", "track_model") == 2


@pytest.mark.e2e
def test_every_training_run_is_in_mlflow(workflow_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workflow_run}/results/mlflow.db")
    experiment = client.get_experiment_by_name("echoes-synthetic")
    names = {r.info.run_name for r in client.search_runs([experiment.experiment_id])}
    assert names == {f"{m}-split1-seed0" for m in TINY_CONFIG["models"]}


@pytest.mark.e2e
def test_a_second_run_has_nothing_to_do(workflow_run):
    assert NOTHING_TO_DO in snakemake(workflow_run, "-n")


@pytest.mark.e2e
def test_changing_one_models_params_reruns_only_that_model_and_the_report(workflow_run):
    config = yaml.safe_load((workflow_run / "config.yaml").read_text())
    config["models"]["SimpleESN"]["params"]["spectral_radius"] = 0.5
    (workflow_run / "config.yaml").write_text(yaml.safe_dump(config))
    dry = snakemake(workflow_run, "-n")
    assert pending_jobs(dry) == {"train_model": 1, "aggregate_model": 1, "track_model": 1, "report": 1, "all": 1}
    assert set(re.findall(r"model=(\w+)", dry)) == {"SimpleESN"}

    snakemake(workflow_run, "results/models/SimpleESN/metrics.json")
    assert pending_jobs(snakemake(workflow_run, "-n")) == {"track_model": 1, "report": 1, "all": 1}
    snakemake(workflow_run)
    assert NOTHING_TO_DO in snakemake(workflow_run, "-n")


@pytest.mark.e2e
def test_other_cnn_weights_reextract_features_without_decoding_again(workflow_run):
    original = (workflow_run / "config.yaml").read_text()
    config = yaml.safe_load(original)
    config["features"]["seed"] = 1  # another random initialisation: other weights
    (workflow_run / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        jobs = pending_jobs(snakemake(workflow_run, "-n"))
    finally:
        (workflow_run / "config.yaml").write_text(original)
    assert jobs["extract_features"] == 1 and jobs["report"] == 1
    assert "decode_frames" not in jobs and "manifest" not in jobs


@pytest.mark.e2e
def test_a_bad_config_fails_before_any_job_naming_the_key(workflow_run, tmp_path):
    config = yaml.safe_load((workflow_run / "config.yaml").read_text())
    config["models"]["SimpleESN"]["params"]["sparsity"] = 1.5
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "config.yaml"),
            "--cores",
            "1",
            "-n",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0
    assert "config key models.SimpleESN.params.sparsity" in result.stdout + result.stderr


@pytest.mark.e2e
def test_snakemake_report_embeds_the_table_and_figures(workflow_run):
    snakemake(workflow_run, "--report", "results/report.html")
    html = (workflow_run / "results" / "report.html").read_text(errors="replace")
    assert "comparison.md" in html and "accuracy_vs_time.png" in html


def _test_clips(workdir: Path) -> tuple[list[Path], list[int]]:
    from echoes.contracts.manifest import read_manifest

    manifest = read_manifest(workdir / "data" / "synthetic" / "manifest.tsv")
    clips = [c for c in manifest.clips if c.splits.get(1) == "test"]
    return [workdir / "data" / "synthetic" / "raw" / "videos" / c.path for c in clips], [c.label for c in clips]


@pytest.mark.e2e
@pytest.mark.parametrize("model", ["SimpleESN", "SimpleRNN"])
def test_echoes_predict_reproduces_the_evaluated_predictions_on_the_test_clips(workflow_run, model):
    from echoes.predict import predict_videos

    run = workflow_run / "results" / "models" / model / "runs" / "split1-seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    videos, labels = _test_clips(workflow_run)
    predictions = predict_videos(videos, run, top=1)
    confusion = [[0] * len(metrics["classes"]) for _ in metrics["classes"]]
    for prediction, label in zip(predictions, labels, strict=True):
        confusion[label][metrics["classes"].index(prediction.top[0][0])] += 1
    assert confusion == metrics["confusion"]
    assert predictions[0].score == ("ridge score" if model == "SimpleESN" else "probability")


@pytest.mark.e2e
def test_echoes_predict_cli_takes_a_raw_mpeg4_stream_named_avi_and_refuses_what_is_not_a_video(workflow_run, tmp_path):
    import av

    videos, _ = _test_clips(workflow_run)
    raw = tmp_path / "raw_stream.avi"  # an MPEG-4 elementary stream, no container, under an .avi name
    with av.open(str(videos[0])) as source, av.open(str(raw), "w", format="m4v") as sink:
        stream = sink.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in source.decode(video=0):
            sink.mux(stream.encode(frame.reformat(width=64, height=48, format="yuv420p")))
        sink.mux(stream.encode())
    run = workflow_run / "results" / "models" / "SimpleESN" / "runs" / "split1-seed0"
    cli = [sys.executable, "-m", "echoes.cli", "predict", "--run", str(run)]
    result = subprocess.run(
        [*cli, str(raw)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 0, result.stderr
    assert "raw_stream.avi  (ridge score)" in result.stdout and "  5." not in result.stdout  # 4 classes
    assert "  4. " in result.stdout

    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    refused = subprocess.run(
        [*cli, str(text)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert refused.returncode == 2 and "notes.avi" in refused.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "echoes.cli", "predict", "--run", str(tmp_path), str(raw)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert missing.returncode == 2 and "no model bundle" in missing.stderr


@pytest.mark.e2e
def test_the_predict_rule_classifies_a_folder_of_new_videos(workflow_run, tmp_path):
    videos, _ = _test_clips(workflow_run)
    folder = tmp_path / "new"
    folder.mkdir()
    for video in videos[:3]:
        shutil.copy(video, folder / video.name)
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    snakemake(workflow_run, "results/predictions/SimpleESN.tsv", "--config", f"predict={{'videos_dir': '{folder}'}}")
    rows = (workflow_run / "results" / "predictions" / "SimpleESN.tsv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("video\tscore\tclass1")
    assert sum("error:" in row for row in rows) == 1 and sum("ridge score" in row for row in rows) == 3


@pytest.mark.e2e
def test_a_sweep_trains_each_point_as_its_own_cached_job_and_renders_its_table(workflow_run):
    config_file = workflow_run / "config.yaml"
    original = config_file.read_text()
    config = yaml.safe_load(original)
    config["sweeps"] = {"size": {"model": "SimpleESN", "grid": {"reservoir_size": [10, 30]}}}
    config_file.write_text(yaml.safe_dump(config))
    try:
        dry = snakemake(workflow_run, "-n")
        assert pending_jobs(dry) == {"train_model": 2, "track_model": 2, "sweep_report": 1, "frontier": 1, "all": 1}
        assert set(re.findall(r"model=([\w.-]+)", dry)) == {"size.reservoir_size-10", "size.reservoir_size-30"}
        snakemake(workflow_run)
        table = (workflow_run / "results" / "sweeps" / "size.md").read_text()
        assert "| size.reservoir_size-10 | 10 |" in table and "| size.reservoir_size-30 | 30 |" in table
        assert (workflow_run / "results" / "figures" / "frontier.png").is_file()
        assert NOTHING_TO_DO in snakemake(workflow_run, "-n")
    finally:
        config_file.write_text(original)
    assert NOTHING_TO_DO in snakemake(workflow_run, "-n")  # without sweeps: the main comparison is untouched


@pytest.mark.e2e
def test_changing_a_clip_policy_never_redecodes_or_reextracts(workflow_run):
    config_file = workflow_run / "config.yaml"
    original = config_file.read_text()
    config = yaml.safe_load(original)
    try:
        config["frames"]["on_bad_video"] = "fail"  # no clip is bad here: nothing to redo, nothing deleted
        config_file.write_text(yaml.safe_dump(config))
        assert NOTHING_TO_DO in snakemake(workflow_run, "-n")
        config["frames"]["on_partial_video"] = "keep"  # which clips train: training reruns, decoding does not
        config_file.write_text(yaml.safe_dump(config))
        jobs = pending_jobs(snakemake(workflow_run, "-n"))
        assert set(jobs) == {"train_model", "aggregate_model", "track_model", "report", "all"}
    finally:
        config_file.write_text(original)


@pytest.mark.e2e
def test_the_snakemake_html_report_holds_the_table_inline(workflow_run):
    import zipfile

    snakemake(workflow_run, "--report", "report.zip")
    with zipfile.ZipFile(workflow_run / "report.zip") as bundle:
        names = bundle.namelist()
        table = next(n for n in names if n.endswith("comparison.html"))
        page = bundle.read(table).decode()
        assert any(n.endswith("report.html") for n in names)
        report_html = bundle.read(next(n for n in names if n.endswith("report.html"))).decode(errors="ignore")
    comparison = (workflow_run / "results" / "comparison.md").read_text()
    row = next(line for line in comparison.splitlines() if line.startswith("| SimpleESN"))
    accuracy = row.split(" | ")[2]
    assert "SimpleESN" in page and accuracy in page and "<table>" in page
    assert "Echoes compares Echo State Networks" in report_html  # the workflow description


@pytest.mark.e2e
def test_tuning_workers_run_each_study_as_that_many_jobs_before_its_training_job(tmp_path):
    config = {**TINY_CONFIG, "models": {"SimpleESN": TINY_CONFIG["models"]["SimpleESN"]}, "tuning": {"workers": 3}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = pending_jobs(snakemake(tmp_path, "-n"))
    assert plan["tune_model"] == 3 * len(config["seeds"]) and plan["train_model"] == len(config["seeds"])
