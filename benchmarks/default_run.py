"""The default run, timed: per-job start-up and each stage's time of `snakemake --cores 8 --resources gpu=1`.

Clones this repository's committed HEAD into a fresh folder (what a new user gets), runs the
README's default workflow there with this interpreter's Snakemake, and prints the machine, the
start-up a training job pays before it trains (imports, in a fresh process, median of 3), each
stage's jobs, summed job time and wall span (from Snakemake's log), and the whole run's wall time.

    .venv/bin/python benchmarks/default_run.py [--cores 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from echoes.runlog import job_spans, most_at_once, stage_times

ROOT = Path(__file__).resolve().parents[1]
#: What a training job imports before it trains, and what it adds to track the run in MLflow.
STARTUP = {
    "training code (torch, optuna, the package)": "import echoes.training.job",
    "MLflow tracking and model logging": "import mlflow.pyfunc, mlflow.tracking, echoes.tracking.runs",
}


def import_seconds(statement: str, env: dict[str, str], repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter running ``statement`` (its imports), less an empty one's."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return time.perf_counter() - start

    return statistics.median(once(statement) for _ in range(repeats)) - statistics.median(
        once("pass") for _ in range(repeats)
    )


def run_workflow(workdir: Path, cores: int, env: dict[str, str]) -> tuple[float, str]:
    """The README's command in ``workdir``: its wall time and log."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "--resources", "gpu=1"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"the default run failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def training_outside_tuning(workdir: Path) -> dict[str, float]:
    """Per model, the mean seconds a training job spent outside its tuning (start-up, scoring, logging)."""
    spent: dict[str, list[float]] = {}
    for bench in sorted(workdir.glob("logs/train/*/*.benchmark.tsv")):
        model, run = bench.parent.name, bench.name.removesuffix(".benchmark.tsv")
        wall = float(bench.read_text().splitlines()[1].split("\t")[0])
        metrics = json.loads((workdir / "results/models" / model / "runs" / run / "metrics.json").read_text())
        spent.setdefault(model, []).append(wall - metrics["tuning"]["time_s"])
    return {model: statistics.mean(values) for model, values in spent.items()}


def main() -> None:
    from esn_speed import machine_line  # this folder's script: run as `python benchmarks/default_run.py`

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="clone and run here, and keep it (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="echoes-default-run-")) / "echoes"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(workdir)], check=True)
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    env.pop("MLFLOW_TRACKING_URI", None)

    print(machine_line(torch.get_num_threads(), torch.device("cpu")))
    print(f"commit {commit.stdout.strip()}, cloned to {workdir}; `snakemake --cores {args.cores} --resources gpu=1`\n")
    print("| a training job's start-up, before it trains | seconds |\n|---|---|")
    for what, statement in STARTUP.items():
        print(f"| {what} | {import_seconds(statement, env):.1f} |")

    seconds, log = run_workflow(workdir, args.cores, env)
    spans = job_spans(log)
    print("\n| stage (rule) | jobs | summed job time | wall span |\n|---|---|---|---|")
    for rule, stage in stage_times(spans).items():
        print(f"| {rule} | {stage['jobs']} | {stage['job_seconds']:.0f} s | {stage['wall_seconds']:.0f} s |")
    print(f"\nwhole run: {seconds:.0f} s ({seconds // 60:.0f} min {seconds % 60:.0f} s); "
          f"training jobs at once, at most: {most_at_once(spans, 'train_model')}")  # fmt: skip
    print("\n| model | mean seconds per training job outside tuning (start-up, scoring, MLflow) |\n|---|---|")
    for model, spent in training_outside_tuning(workdir).items():
        print(f"| {model} | {spent:.1f} |")
    if args.keep is None:
        shutil.rmtree(workdir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
