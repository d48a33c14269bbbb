"""Validation-only study of a closed-form model's entry: settings compared over many validation draws.

    .venv/bin/python benchmarks/entry_study.py [--model SimpleESN] [--holdouts 10] [--reservoirs 3]
        [--first-holdout 100] [--settings '{"input_scaling": 0.2}' ...]

The workflow picks each run's hyperparameters on one validation draw (whole training groups, a few
dozen clips of each task family), too few to rank settings a few points apart: the draw, and the
reservoir drawn from the run's seed, move a setting's validation accuracy by more. This study reads
the **training clips of split 1 only** (the test clips are not loaded): for each setting (the
config's entry for the model with the setting's parameters over it), it fits the model on
``--holdouts`` validation draws (``echoes.training.protocol.group_holdout`` with seeds from
``--first-holdout``, not the workflow's 0-2) times ``--reservoirs`` model seeds (``1000 * draw + r``),
the same draws and seeds for every setting (paired), with the clip-mean normalisation the workflow picks for the
reservoir models, and prints the validation top-1 per task family and overall, summed over the
fits. Run the workflow first (it reads ``data/<dataset>/features.h5``). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml

from echoes.models import build_model
from echoes.normalisation import normalise
from echoes.training.data import SplitData, load_split
from echoes.training.protocol import group_holdout
from echoes.training.spec import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]


def correct_by_family(logits: torch.Tensor, labels: torch.Tensor, families: list[str]) -> dict[str, tuple[int, int]]:
    """Per task family (and ``overall``): (correct, clips)."""
    right = logits.argmax(1) == labels
    family_of = [families[label] for label in labels.tolist()]
    counts = {"overall": (int(right.sum()), len(labels))}
    for family in sorted(set(family_of)):
        mask = torch.tensor([name == family for name in family_of])
        counts[family] = (int(right[mask].sum()), int(mask.sum()))
    return counts


def validation_fits(args: argparse.Namespace, data: SplitData) -> Iterator[tuple]:
    """Each (model seed, fit rows, validation rows, fit clips, validation clips) of the study: ``--holdouts``
    validation draws from ``--first-holdout`` times ``--reservoirs`` seeds, with the reservoirs' clip-mean
    normalisation; the same for every setting (paired)."""
    for holdout, seed in itertools.product(range(args.holdouts), range(args.reservoirs)):
        fit, val, _ = group_holdout(data.train_groups, TrainingConfig(), args.first_holdout + holdout)
        fit_x, val_x = normalise(data.train_x[fit], data.train_x[val], mode="clip_mean")
        yield 1000 * holdout + seed, fit, val, fit_x, val_x


def add_counts(totals: dict[str, list[int]], counts: dict[str, tuple[int, int]]) -> None:
    """Add one fit's (correct, clips) per family to the running [correct, clips] sums."""
    for family, (right, clips) in counts.items():
        total = totals.setdefault(family, [0, 0])
        total[0], total[1] = total[0] + right, total[1] + clips


def add_draw_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which draws and seeds, and which features, a study reads."""
    parser.add_argument("--holdouts", type=int, default=10)
    parser.add_argument("--reservoirs", type=int, default=3, help="model seeds per validation draw")
    parser.add_argument("--first-holdout", type=int, default=100)
    parser.add_argument("--features", type=Path, default=ROOT / "data" / "synthetic" / "features.h5")
    parser.add_argument("--manifest", type=Path, default=ROOT / "data" / "synthetic" / "manifest.tsv")


def study(
    args: argparse.Namespace, data: SplitData, entry: dict, setting: dict
) -> tuple[dict[str, list[int]], list[float]]:
    """Summed [correct, clips] per family over every draw and seed, and each fit's accuracy on ``args.family``."""
    families = data.families or ["all"] * len(data.classes)
    totals: dict[str, list[int]] = {}
    per_fit = []
    for seed, fit, val, fit_x, val_x in validation_fits(args, data):
        params = {**entry.get("params", {}), **setting}
        model = build_model(entry["class"], params, fit_x.shape[2], len(data.classes), seed, num_frames=fit_x.shape[1])
        model.fit([(fit_x, data.train_y[fit])])
        with torch.no_grad():
            counts = correct_by_family(model(val_x), data.train_y[val], families)
        add_counts(totals, counts)
        right, clips = counts.get(args.family, counts["overall"])
        per_fit.append(100 * right / clips)
    return totals, per_fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="SimpleESN", help="a closed-form entry of config.yaml")
    parser.add_argument("--settings", nargs="+", default=["{}"], help="JSON parameters over the entry's")
    parser.add_argument("--family", default="same_different", help="the family whose spread over fits is shown")
    add_draw_arguments(parser)
    args = parser.parse_args()
    last = args.first_holdout + args.holdouts - 1
    print(f"{args.model}: validation draws {args.first_holdout}-{last} x {args.reservoirs} model seeds each, "
          "training clips of split 1 only; accuracy over the fits' clips summed (clips in brackets)\n")  # fmt: skip
    entry = yaml.safe_load((ROOT / "config.yaml").read_text())["models"][args.model]
    data, header = load_split(args.features, args.manifest, 1), None
    for text in args.settings:
        setting = json.loads(text)
        totals, per_fit = study(args, data, entry, setting)
        if header is None:
            header = sorted(set(totals) - {"overall"}) + ["overall"]
            columns = [f"{family} (%)" for family in header] + [f"{args.family} per fit: mean ± std"]
            print("| setting | " + " | ".join(columns) + " |")
            print("|" + "---|" * (len(header) + 2))
        cells = " | ".join(f"{100 * totals[f][0] / totals[f][1]:.1f} ({totals[f][1]})" for f in header)
        spread = f"{statistics.fmean(per_fit):.1f} ± {statistics.stdev(per_fit):.1f}" if len(per_fit) > 1 else "-"
        print(f"| {json.dumps(setting) if setting else 'the entry'} | {cells} | {spread} |", flush=True)


if __name__ == "__main__":
    main()
