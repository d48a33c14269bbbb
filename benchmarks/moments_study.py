"""Validation-only study: does a block of features beside the reservoir model space help?

    .venv/bin/python benchmarks/moments_study.py [--model SimpleESN] [--block covariances] [--holdouts 10]
        [--reservoirs 3] [--first-holdout 100] [--weights 0 0.3 1 3]

The reservoir model space (Bianchi et al. 2021; ``representation: model_space``) gives the readout
each clip's linear model of its next reduced state, which is how the ESN entries compare two events
in time. A plainer second-order summary is the covariance of the clip's reduced states over its
steps: the time average of the quadratic monomials a quadratic readout (as in next-generation
reservoir computing) would see, centred. This study appends those ``k (k + 1) / 2`` covariances
(``--block covariances``), or the clip's last reduced state (``--block last``: what ``last`` gives
the readout, reduced), to the entry's model space, scaled so that their total variance over the fit
clips is ``weight`` times the model space's (0: the entry as it is), and fits the readout as the workflow does (ridge by
GCV). Like ``benchmarks/entry_study.py`` it reads the **training clips of split 1 only**, over
``--holdouts`` validation draws times ``--reservoirs`` model seeds, the same for every weight
(paired), and prints validation top-1 per task family, summed over the fits. Asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from entry_study import add_counts, add_draw_arguments, correct_by_family, validation_fits

from echoes.models import build_model
from echoes.models.representations import model_space
from echoes.models.ridge import RidgeAccumulator, widened_gcv
from echoes.training.data import SplitData, load_split

ROOT = Path(__file__).resolve().parents[1]


def covariances(reduced: torch.Tensor) -> torch.Tensor:
    """Each clip's covariance of its reduced states over the steps, unique entries: ``[B, T, k] -> [B, k(k+1)/2]``."""
    centred = reduced - reduced.mean(1, keepdim=True)
    covariance = centred.transpose(1, 2) @ centred / reduced.shape[1]
    rows, columns = torch.triu_indices(reduced.shape[2], reduced.shape[2])
    return covariance[:, rows, columns]


BLOCKS = {"covariances": covariances, "last": lambda reduced: reduced[:, -1]}


def ridge_scores(fit: torch.Tensor, labels: torch.Tensor, val: torch.Tensor, classes: int) -> torch.Tensor:
    """Validation scores of a ridge readout fitted on ``fit`` with GCV's ridge, as ``ClosedFormModel.fit`` does."""
    acc = RidgeAccumulator(fit.shape[1], classes)
    acc.update(fit, labels)
    gcv, _ = widened_gcv(acc)
    weights, intercept = acc.solve(min(gcv, key=gcv.get))
    return val.double() @ weights + intercept


def reduced_states(entry: dict, fit_x: torch.Tensor, val_x: torch.Tensor, classes: int, seed: int) -> tuple:
    """The entry's PCA-reduced states ``[B, T, k]`` of the fit and validation clips, and its ``embedding_ridge``.

    The ``states`` representation is every step's reduced state, with the same PCA as ``model_space``'s."""
    params = {**entry.get("params", {}), "representation": "states"}
    model = build_model(entry["class"], params, fit_x.shape[2], classes, seed, num_frames=fit_x.shape[1])
    model.fit_encoder([(fit_x, None)])
    with torch.no_grad():
        fit, val = (model.encode(x).view(len(x), x.shape[1], -1) for x in (fit_x, val_x))
    return fit, val, model.embedding_ridge


def study(args: argparse.Namespace, data: SplitData, entry: dict) -> dict[float, dict[str, list[int]]]:
    """Summed [correct, clips] per family for each weight, over every draw and seed."""
    families = data.families or ["all"] * len(data.classes)
    totals: dict[float, dict[str, list[int]]] = {weight: {} for weight in args.weights}
    for seed, fit, val, fit_x, val_x in validation_fits(args, data):
        fit_r, val_r, ridge = reduced_states(entry, fit_x, val_x, len(data.classes), seed)
        fit_ms, val_ms = (model_space(r.permute(1, 2, 0), ridge).double() for r in (fit_r, val_r))
        fit_block, val_block = (BLOCKS[args.block](r.double()) for r in (fit_r, val_r))
        ratio = (fit_ms.var(0).sum() / fit_block.var(0).sum()).sqrt()
        for weight in args.weights:
            scale = ratio * weight**0.5
            scores = ridge_scores(torch.cat([fit_ms, scale * fit_block], 1), data.train_y[fit],
                                  torch.cat([val_ms, scale * val_block], 1), len(data.classes))  # fmt: skip
            add_counts(totals[weight], correct_by_family(scores, data.train_y[val], families))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="SimpleESN", help="an ESN entry using model_space")
    parser.add_argument("--block", choices=sorted(BLOCKS), default="covariances", help="what goes beside")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.3, 1.0, 3.0])
    add_draw_arguments(parser)
    args = parser.parse_args()
    entry = yaml.safe_load((ROOT / "config.yaml").read_text())["models"][args.model]
    if entry.get("params", {}).get("representation") != "model_space":
        parser.error(f"{args.model}'s entry in config.yaml does not use representation model_space")
    last = args.first_holdout + args.holdouts - 1
    print(f"{args.model}: validation draws {args.first_holdout}-{last} x {args.reservoirs} model seeds each, "
          f"training clips of split 1 only; the {args.block} beside the model space; accuracy over the fits' "
          "clips summed (clips in brackets)\n")  # fmt: skip
    totals = study(args, load_split(args.features, args.manifest, 1), entry)
    header = sorted(set(totals[args.weights[0]]) - {"overall"}) + ["overall"]
    print(f"| {args.block}: weight | " + " | ".join(f"{family} (%)" for family in header) + " |")
    print("|" + "---|" * (len(header) + 1))
    for weight, counts in totals.items():
        cells = " | ".join(f"{100 * counts[f][0] / counts[f][1]:.1f} ({counts[f][1]})" for f in header)
        print(f"| {weight:g}{' (the entry)' if weight == 0 else ''} | {cells} |")


if __name__ == "__main__":
    main()
