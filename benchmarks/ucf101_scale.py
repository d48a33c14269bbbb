"""Benchmark: every default model's training at full UCF101 size, and what a full run costs here.

    .venv/bin/python benchmarks/ucf101_scale.py [--threads 2] [--models SimpleESN AllFrames ...] [--entry-trial]
        [--params '{"representation": "states"}']

Builds generated features the size of UCF101 split 1 from the official lists
(``tests/data/ucfTrainTestlist``: 9,537 training and 3,783 test clips, 101 classes, the lists'
groups, T = 16 x 512) and fits each model of ``config.yaml`` as a training job does, one
typical trial (the middle of every range and choice of its search space): a closed-form model's
whole fit, a gradient model's first epoch. It prints the machine, those times, and per (split,
seed) job the estimate ``trials x fit`` (closed form) or ``trials x epochs x epoch`` with the
epochs stated, labelled as estimates, and each job's peak resident memory above its start (the
fit, scoring and records; ``training_peak_mib``). ``--params`` sets parameters over each chosen
entry's (e.g. another ESN representation; with ``--entry-trial``, since a typical trial sets the
keys its search space names itself). The features carry
a class signal so that nothing degenerates, but they measure time, never accuracy.

Decoding and CNN rates come from ``benchmarks/extraction_speed.py``; ``benchmarks/README.md`` puts
the two together into the full-UCF101 estimate per stage.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from echoes.contracts.records import FeatureAttrs
from echoes.data.ucf101 import build_manifest
from echoes.devices import set_threads
from echoes.planning.config import validate_config
from echoes.training.data import SplitData
from echoes.training.job import train_on_split
from echoes.training.space import is_range
from echoes.training.spec import RunSpec

#: What generated features are: no dataset, no CNN.
GENERATED = FeatureAttrs(dataset="generated", weights="none (generated features)", frames_per_clip=16)

ROOT = Path(__file__).resolve().parents[1]
LISTS = ROOT / "tests" / "data" / "ucfTrainTestlist"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
#: Epochs assumed per gradient trial for the estimate: what the synthetic default run's LSTMs
#: needed on average (about 20 to converge) plus the early-stopping patience that confirms it.
ASSUMED_EPOCHS = 35


def split1_features(steps: int = 16, dim: int = 512, seed: int = 0) -> SplitData:
    """UCF101 split 1's clips (roles, labels, groups from the official lists) with generated features."""
    classes, clips = build_manifest(LISTS, splits=[1])
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(classes), dim)).astype(np.float32)
    labels = np.array([c.label for c in clips])
    x = torch.from_numpy(centres[labels][:, None, :] * 0.5 + rng.standard_normal((len(clips), steps, dim), np.float32))
    y, groups = torch.from_numpy(labels), np.array([c.group for c in clips])
    test = np.array([c.splits[1] == "test" for c in clips])
    return SplitData(x[~test], y[~test], groups[~test], x[test], y[test], groups[test], classes, GENERATED)


def typical_trial(space: dict) -> dict:
    """The middle of every range (geometric in log scale) and the middle choice of every list."""
    trial = {}
    for key, values in space.items():
        if not is_range(values):
            trial[key] = values[len(values) // 2]
            continue
        low, high = values["low"], values["high"]
        middle = (low * high) ** 0.5 if values.get("log") else (low + high) / 2
        trial[key] = round(middle) if values["type"] == "int" else middle
    return trial


def measure(
    data: SplitData, name: str, entry: dict, config: dict, threads: int, entry_trial: bool = False
) -> tuple[str, float, int, float]:
    """(fit method, seconds of one trial's fit or first epoch, trials per job, the job's peak MiB above its
    start): the typical trial, or with ``entry_trial`` the entry's own params (the first trial its search
    runs: config.yaml's choices)."""
    one = {**config["training"], "max_epochs": 1}
    trial = {} if entry_trial else {k: [v] for k, v in typical_trial(entry.get("search") or {}).items()}
    print(f"  {name}: trial {trial}", flush=True)
    spec = RunSpec.from_config(name, {"class": entry["class"], "params": entry.get("params", {}), "tune": trial}, one,
                               threads=threads)  # fmt: skip
    started = time.perf_counter()
    metrics, _, _ = train_on_split(data, spec)
    print(f"  {name}: {time.perf_counter() - started:.1f} s in all", flush=True)
    grid = int(np.prod([len(v) for v in (entry.get("tune") or {}).values()] or [1]))
    trials = config["tuning"]["trials"] if entry.get("search") else grid
    return metrics["fit_method"], metrics["train_time_s"], trials, metrics["training_peak_mib"]


def main() -> None:
    from esn_speed import machine_line  # this folder's script: run as `python benchmarks/ucf101_scale.py`

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="model names of config.yaml (default: all)")
    parser.add_argument(
        "--entry-trial", action="store_true", help="time each entry's own params (config.yaml's), not the typical trial"
    )
    parser.add_argument("--params", type=json.loads, default={}, help="JSON parameters over each entry's params")
    args = parser.parse_args()
    set_threads(args.threads)
    config = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMA, fetch_weights=False)
    models = {k: {**v, "params": {**v.get("params", {}), **args.params}}
              for k, v in config["models"].items() if not args.models or k in args.models}  # fmt: skip
    print(machine_line(args.threads, torch.device("cpu")))
    data = split1_features()
    print(f"UCF101 split 1 from the official lists: {len(data.train_x)} training, {len(data.test_x)} test clips, "
          f"{len(data.classes)} classes, T = 16 x 512 (generated features)\n")  # fmt: skip
    rows = []
    for name, entry in models.items():
        rows.append((name, *measure(data, name, entry, config, args.threads, args.entry_trial)))
    print(f"\nparameters over the entries': {json.dumps(args.params)}\n" if args.params else "")
    print("| model | one trial (fit, or first epoch) | trials | per (split, seed) job, estimate "
          "| peak memory above start |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, method, seconds, candidates, peak in rows:
        if method == "closed_form":
            job = f"{candidates * seconds / 60:.1f} min ({candidates} fits)"
            measured = f"{seconds:.1f} s fit"
        else:
            minutes = candidates * ASSUMED_EPOCHS * seconds / 60
            job = f"{minutes:.0f} min ({candidates} x {ASSUMED_EPOCHS} epochs, assumed)"
            measured = f"{seconds:.1f} s per epoch"
        print(f"| {name} | {measured} | {candidates} | {job} | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
