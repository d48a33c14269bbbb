"""The report's figures, each drawn on one shared preamble (:func:`figure`): Agg backend, fixed
colours per model and per family, saved atomically as PNG."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from echoes.contracts.metrics import read_metrics
from echoes.contracts.records import Epoch, LayerRecord, TrialRecord
from echoes.files import atomic_path
from echoes.report.stats import finished, mean_and_spread, mean_confusion, summarise

ByModel = Mapping[str, Sequence[Mapping[str, Any]]]
KIND_COLOURS = {"control": "tab:gray", "ESN": "tab:blue", "NG-RC": "tab:green", "LSTM": "tab:orange"}


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def figure(out: Path, *, dpi: int = 110, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``(fig, axes)`` of ``plt.subplots(**subplots)``, laid out and written to ``out`` on exit."""
    plt = pyplot()
    fig, axes = plt.subplots(**subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)


def model_colours(names: Sequence[str]) -> dict[str, Any]:
    """One fixed colour per model, the same in every figure (tab10, in display order)."""
    palette = pyplot().get_cmap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def kind_colour(run: Mapping[str, Any]) -> str:
    """A model kind's colour in the frontier: the built-in kinds fixed, any other (a user's GRU) purple."""
    return KIND_COLOURS.get(run.get("kind", ""), "tab:purple")


def plot_accuracy_vs_time(by_model: ByModel, out: Path, colours: Mapping[str, Any] | None = None) -> None:
    """Mean test accuracy against mean training time, with ± std error bars where n > 1."""
    colours = colours or model_colours(list(by_model))
    with figure(out, dpi=120, figsize=(6, 4)) as (_, ax):
        for name, runs in by_model.items():
            s = summarise(runs)
            ax.errorbar(
                s["mean"]["train_time_s"],
                100 * s["mean"]["accuracy_top1"],
                xerr=s["std"]["train_time_s"],
                yerr=100 * s["std"]["accuracy_top1"],
                fmt="o",
                capsize=4,
                elinewidth=1.5,
                color=colours[name],
                label=f"{name} (n={s['n']})",
            )
        ax.set_xscale("log")
        ax.set_xlabel("training time (s, log scale)")
        ax.set_ylabel("test accuracy top-1 (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)


def plot_learning_curves(by_model: ByModel, out: Path, colours: Mapping[str, Any] | None = None) -> None:
    """Validation accuracy per epoch of the gradient models: mean over runs, ± std as a band."""
    colours = colours or model_colours(list(by_model))
    with figure(out, dpi=120, figsize=(6, 4)) as (_, ax):
        for name, runs in by_model.items():
            epochs = [[Epoch.read(h) for h in run["history"]] for run in runs]
            curves = [[100 * e.val_accuracy for e in run if e.val_accuracy is not None] for run in epochs]
            curves = [c for c in curves if c]
            if not curves:
                continue
            mean, std = mean_and_spread(curves)
            epochs = range(1, len(mean) + 1)
            ax.plot(epochs, mean, color=colours[name], label=f"{name} (n={len(curves)})")
            if len(curves) > 1:
                low = [m - d for m, d in zip(mean, std, strict=True)]
                high = [m + d for m, d in zip(mean, std, strict=True)]
                ax.fill_between(epochs, low, high, color=colours[name], alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%), mean ± std over runs")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)


def best_so_far(trials: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(cumulative tuning seconds at each trial's end, best validation accuracy up to it) of one run."""
    ends, best, top = [], [], 0.0
    spent = 0.0
    for trial in map(TrialRecord.read, trials):
        spent += trial.seconds
        if trial.state == "complete":
            top = max(top, trial.val_accuracy)
        ends.append(spent)
        best.append(top)
    return ends, best


def plot_tuning_curves(by_model: ByModel, out: Path, colours: Mapping[str, Any] | None = None) -> None:
    """What tuning buys: the best validation accuracy so far against cumulative tuning time, per model;
    the mean over runs as a line, the runs' range as a band (each run a step function of time)."""
    import numpy as np

    colours = colours or model_colours(list(by_model))
    with figure(out, dpi=120, figsize=(6, 4)) as (_, ax):
        for name, runs in by_model.items():
            curves = [best_so_far(run["tuning"]["trials"]) for run in runs if run["tuning"].get("trials")]
            if not curves:
                continue
            start = max(ends[0] for ends, _ in curves)  # every run has a best from here on: the mean never dips
            stop = max(ends[-1] for ends, _ in curves)
            grid = np.geomspace(start, stop, 200) if stop > start else np.array([start])
            steps = np.array([[100 * best[i - 1] if (i := np.searchsorted(ends, t, "right")) else np.nan for t in grid]
                              for ends, best in curves])  # fmt: skip
            ax.plot(grid, np.nanmean(steps, 0), color=colours[name], label=f"{name} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(grid, np.nanmin(steps, 0), np.nanmax(steps, 0), color=colours[name], alpha=0.15,
                                linewidth=0, step="post")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("cumulative tuning time (s, log scale)")
        ax.set_ylabel("best validation accuracy so far (%)")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)


def layer_means(runs: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per-layer records of an ESN's runs averaged layer by layer: ``{key: [value of layer 1, ...]}``; a
    diagnostic missing from a run (``None``, see ``unavailable``) is averaged over the others, or None."""
    records = [[LayerRecord.read(layer) for layer in run["layers"]] for run in runs if run.get("layers")]
    depth = min(len(r) for r in records)

    def mean(values: list) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    def value(record: LayerRecord, key: str) -> float | None:
        return getattr(record, key) if key in ("accuracy", "accuracy_up_to") else record.diagnostic(key)

    keys = ("accuracy", "accuracy_up_to", "memory_capacity", "effective_spectral_radius")
    return {key: [mean([value(r[layer], key) for r in records]) for layer in range(depth)] for key in keys}


def plot_layers(by_model: ByModel, out: Path, colours: Mapping[str, Any] | None = None) -> None:
    """What each reservoir adds, per ESN model: test top-1 of a readout on layer l alone (dashed)
    and on layers 1..l (solid), memory capacity and effective spectral radius, by layer."""
    colours = colours or model_colours(list(by_model))
    with figure(out, dpi=110, figsize=(11, 3.4), ncols=3) as (_, axes):
        for name, runs in by_model.items():
            if not any(run.get("layers") for run in runs):
                continue
            means = layer_means(runs)
            layers = range(1, len(means["accuracy"]) + 1)
            colour = colours[name]
            axes[0].plot(layers, [100 * a for a in means["accuracy_up_to"]], "o-", color=colour, label=f"{name} 1..l")
            axes[0].plot(layers, [100 * a for a in means["accuracy"]], "s--", color=colour, label=f"{name} l alone")
            for ax, key in zip(axes[1:], ("memory_capacity", "effective_spectral_radius"), strict=True):
                ax.plot(layers, [math.nan if v is None else v for v in means[key]], "o-", color=colour, label=name)
        titles = ("test top-1 (%) of a readout on", "linear memory capacity", "effective spectral radius")
        for ax, title in zip(axes, titles, strict=True):
            ax.set_xlabel("reservoir (layer)")
            ax.set_title(title, fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)


#: Above this many classes a confusion matrix is drawn without per-cell counts or class names:
#: they would overlap (the report lists the most confused pairs by name instead).
LABELLED_CLASSES = 20


def plot_confusions(by_model: ByModel, out: Path) -> None:
    """Per model, the confusion matrix (mean count over runs) with a colour bar; class names and
    counts when there are few classes, else every tenth class index and the rows as rates."""
    names = list(by_model)
    classes = next((r.get("classes") for runs in by_model.values() for r in runs if r.get("classes")), [])
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    with figure(out, figsize=(4.6 * columns, 4.2 * rows), nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax in axes.flat[len(names) :]:
            ax.axis("off")
        for ax, name in zip(axes.flat, names, strict=False):
            matrix = mean_confusion(by_model[name])
            if len(matrix) > LABELLED_CLASSES:
                draw_large_confusion(fig, ax, matrix)
            else:
                draw_labelled_confusion(fig, ax, matrix, classes)
            ax.set_title(f"{name} (n={len(by_model[name])})", fontsize=9)


def draw_labelled_confusion(fig: Any, ax: Any, matrix: list[list[float]], classes: Sequence[str]) -> None:
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    top = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, f"{value:.1f}".rstrip("0").rstrip("."), ha="center", va="center", fontsize=6,
                        color="white" if value > top / 2 else "black")  # fmt: skip
    ticks = range(len(matrix))
    labels = classes if len(classes) == len(matrix) else [str(i) for i in ticks]
    ax.set_xticks(list(ticks), labels, rotation=90, fontsize=5)
    ax.set_yticks(list(ticks), labels, fontsize=5)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)


def draw_large_confusion(fig: Any, ax: Any, matrix: list[list[float]]) -> None:
    """Row-normalised (each true class sums to 1), so that classes of different sizes compare, on a
    square-root colour scale, so that the errors off the diagonal show beside it."""
    from matplotlib.colors import PowerNorm

    rates = [[v / (sum(row) or 1) for v in row] for row in matrix]
    image = ax.imshow(rates, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of the true class (√ scale)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    ticks = list(range(0, len(matrix), 10))
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=6)
    ax.set_yticks(ticks, [str(t) for t in ticks], fontsize=6)
    ax.set_xlabel("predicted class (index in classInd order)", fontsize=8)
    ax.set_ylabel("true class (index)", fontsize=8)


def plot_frontier(run_paths: Mapping[str, Sequence[Path]], sweeps: Mapping[str, Sequence[str]], out: Path) -> None:
    """Accuracy against training time and against trainable parameters, every model and sweep point.

    One colour per model kind; the points of a sweep are joined in order, so each traces its frontier.
    """
    loaded = {name: finished([read_metrics(Path(p)) for p in paths]) for name, paths in run_paths.items()}
    summaries = {name: summarise(runs) for name, runs in loaded.items() if runs}
    in_sweeps = {n for names in sweeps.values() for n in names}
    with figure(out, figsize=(11, 4.5), ncols=2, sharey=True) as (fig, axes):
        for ax, key, label in zip(
            axes, ("train_time_s", "trainable_params"), ("training time (s)", "trainable parameters"), strict=True
        ):
            for sweep, names in sweeps.items():
                names = [n for n in names if n in summaries]
                if names:
                    ax.plot(
                        [summaries[n]["mean"][key] for n in names],
                        [100 * summaries[n]["mean"]["accuracy_top1"] for n in names],
                        "o-",
                        color=kind_colour(loaded[names[0]][0]),
                        alpha=0.8,
                        label=f"sweep {sweep}",
                    )
            for name, s in summaries.items():
                if name not in in_sweeps:
                    point = (s["mean"][key], 100 * s["mean"]["accuracy_top1"])
                    ax.plot(*point, "*", ms=12, color=kind_colour(loaded[name][0]))
                    ax.annotate(name, point, fontsize=7)
            ax.set_xscale("log")
            ax.set_xlabel(f"{label}, log scale")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("test accuracy top-1 (%)")
        kinds = {loaded[n][0].get("kind", "?"): kind_colour(loaded[n][0]) for n in summaries}
        handles = [pyplot().Line2D([], [], color=c, marker="o", label=f) for f, c in sorted(kinds.items())]
        axes[1].legend(handles=handles, fontsize=8, loc="lower right")
        fig.suptitle("accuracy against cost: sweeps (lines) and the main models (stars)")
