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

from echoes.planning.runlog import job_spans, most_at_once, stage_times

ROOT = Path(__file__).resolve().parents[1]
#: What a job imports before it works: torch alone, a training job's imports, a tracking job's.
STARTUP = {
    "import torch": "import torch",
    "a training job's imports (torch, the package; no MLflow)": "import echoes.stages.train",
    "a track_model job's imports (MLflow, model logging)": "import echoes.stages.track, mlflow.pyfunc",
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


def training_jobs(workdir: Path) -> dict[str, dict[str, float | str]]:
    """Per model: its kind, and the mean wall seconds of its training jobs (Snakemake's ``benchmark:``
    files) in all and outside tuning (start-up, scoring, writing)."""
    walls: dict[str, list[tuple[float, float]]] = {}
    kind: dict[str, str] = {}
    for bench in sorted(workdir.glob("logs/train/*/split*-seed*.benchmark.tsv")):
        model, run = bench.parent.name, bench.name.removesuffix(".benchmark.tsv")
        if ".worker" in run:
            continue
        wall = float(bench.read_text().splitlines()[1].split("\t")[0])
        metrics = json.loads((workdir / "results/models" / model / "runs" / run / "metrics.json").read_text())
        walls.setdefault(model, []).append((wall, wall - metrics["tuning"]["time_s"]))
        kind[model] = metrics["kind"]
    return {
        model: {
            "kind": kind[model],
            "wall": statistics.mean(w for w, _ in values),
            "outside": statistics.mean(o for _, o in values),
        }
        for model, values in walls.items()
    }


def main() -> None:
    from esn_speed import machine_line  # this folder's script: run as `python benchmarks/default_run.py`

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="clone and run here, and keep it (default: a temporary folder)")
    parser.add_argument(
        "--commit", default="HEAD", help="the commit to run (for a baseline the same day: an earlier one)"
    )
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="echoes-default-run-")) / "echoes"
    commit = subprocess.run(["git", "rev-parse", "--short", args.commit], cwd=ROOT, capture_output=True, text=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(workdir)], check=True)
    subprocess.run(["git", "checkout", "--quiet", commit.stdout.strip()], cwd=workdir, check=True)
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    env.pop("MLFLOW_TRACKING_URI", None)

    print(machine_line(torch.get_num_threads(), torch.device("cpu")))
    print(f"commit {commit.stdout.strip()}, cloned to {workdir}; `snakemake --cores {args.cores} --resources gpu=1`\n")
    print("| a job's imports, in a fresh interpreter (median of 3) | seconds |\n|---|---|")
    imports = {what: import_seconds(statement, env) for what, statement in STARTUP.items()}
    for what, spent in imports.items():
        print(f"| {what} | {spent:.1f} |")

    seconds, log = run_workflow(workdir, args.cores, env)
    spans = job_spans(log)
    print("\n| stage (rule) | jobs | summed job time | wall span |\n|---|---|---|---|")
    for rule, stage in stage_times(spans).items():
        print(f"| {rule} | {stage['jobs']} | {stage['job_seconds']:.0f} s | {stage['wall_seconds']:.0f} s |")
    print(f"\nwhole run: {seconds:.0f} s ({seconds // 60:.0f} min {seconds % 60:.0f} s); "
          f"training jobs at once, at most: {most_at_once(spans, 'train_model')}")  # fmt: skip
    jobs = training_jobs(workdir)
    print("\n| model | kind | training job, wall (mean) | of which outside tuning |\n|---|---|---|---|")
    for model, job in jobs.items():
        print(f"| {model} | {job['kind']} | {job['wall']:.1f} s | {job['outside']:.1f} s |")
    torch_import = imports["import torch"]
    for model, job in jobs.items():
        if job["kind"] == "control":
            print(f"a control's job ({model}): {job['wall']:.1f} s, {job['wall'] - torch_import:.1f} s above "
                  f"`import torch` ({torch_import:.1f} s)")  # fmt: skip
    if args.keep is None:
        shutil.rmtree(workdir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
