"""``results/comparison.md``: the comparison table, rendered only from the runs' metrics files.

Every number in the report comes from a ``metrics.json`` written by a training job; nothing is
typed in. Runs of one model over several seeds/splits are summarised as mean ± sample std (n
shown). Uncertainty is stated, not hidden:

- the difference in top-1 accuracy to the reference model (SimpleRNN) is paired by (split, seed)
  and given with a 95 % Student-t interval over those pairs (n - 1 degrees of freedom);
- the best row's accuracy is bolded only when no other row's 95 % t-interval of the mean overlaps
  its own; rows within that noise are marked as ties (†), never as a win.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from echoes.contracts.metrics import MetricsFileError, failed, read_metrics
from echoes.files import atomic_path, write_json

SUMMARISED = (
    "accuracy_top1",
    "val_accuracy",
    "accuracy_top5",
    "train_time_s",
    "time_per_epoch_s",
    "time_to_convergence_s",
    "convergence_epoch",
    "epochs",
    "inference_time_per_batch_s",
    "peak_rss_mib",
    "training_peak_mib",
    "peak_gpu_mib",
    "trainable_params",
    "total_params",
)
CONTROL_CLASSES = ("MeanOfFrames", "AllFrames")
CONFIDENCE = 0.95
REFERENCE_MODEL = "SimpleRNN"


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict:
    """Mean and sample standard deviation (0 for one run) of each summarised metric over ``runs``."""
    summary: dict[str, Any] = {"n": len(runs), "mean": {}, "std": {}}
    for key in SUMMARISED:
        values = [float(r[key]) for r in runs if r.get(key) is not None]
        if values:
            summary["mean"][key] = statistics.fmean(values)
            summary["std"][key] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean of ``values``; None for fewer than two (no spread to judge by)."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    mean = statistics.fmean(values)
    half = t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


def paired_differences(runs: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]]) -> list[float]:
    """Top-1 accuracy of ``runs`` minus the reference's, for each (split, seed) both have."""
    by_run = {(r["split"], r["seed"]): r["accuracy_top1"] for r in reference}
    return [r["accuracy_top1"] - by_run[key] for r in runs if (key := (r["split"], r["seed"])) in by_run]


def winners(intervals: Mapping[str, tuple[float, float] | None], means: Mapping[str, float]) -> tuple[str | None, set]:
    """(the clear winner or None, the rows tied with the best within their 95 % intervals)."""
    if not means:
        return None, set()
    best = max(means, key=means.get)
    if intervals.get(best) is None:
        return None, set()
    low, high = intervals[best]
    tied = {
        name
        for name, interval in intervals.items()
        if name != best and interval is not None and interval[1] >= low and interval[0] <= high
    }
    return (None, tied | {best}) if tied else (best, set())


def aggregate_model(run_paths: Sequence[Path], out: Path) -> dict:
    """Stage entry point: ``results/models/<name>/metrics.json`` summarising that model's runs."""
    runs = [read_metrics(Path(p)) for p in run_paths]
    summary = summarise(finished(runs)) | {
        "model": runs[0]["model"],
        "class": runs[0]["class"],
        "params": runs[0].get("params", {}),
        "failed": sum(failed(r) for r in runs),
        "runs": [
            {"split": r["split"], "seed": r["seed"], "status": r.get("status", "ok"), "path": str(p)}
            for r, p in zip(runs, run_paths, strict=True)
        ],
    }
    write_json(out, summary)
    return summary


def _fmt(mean: float | None, std: float | None, n: int, digits: int = 2, scale: float = 1.0) -> str:
    if mean is None:
        return "–"
    text = f"{mean * scale:.{digits}f}"
    return f"{text} ± {std * scale:.{digits}f}" if n > 1 else text


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _fmt_count(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else f"{n:.0f}"


def _fmt_diff(differences: Sequence[float]) -> str:
    """Mean paired difference in points with its 95 % t-interval, e.g. ``+12.5 [+3.1, +21.9] (n=3)``."""
    if not differences:
        return "–"
    mean = 100 * statistics.fmean(differences)
    interval = t_interval(differences)
    if interval is None:
        return f"{mean:+.1f} (n=1, no interval)"
    return f"{mean:+.1f} [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}] (n={len(differences)})"


def comparison_rows(by_model: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, str]]:
    """One row of display strings per model, in config order; speed-up and difference are against SimpleRNN."""
    succeeded = {name: finished(runs) for name, runs in by_model.items()}
    summaries = {name: summarise(runs) for name, runs in succeeded.items() if runs}
    reference_name = next((name for name in summaries if succeeded[name][0]["class"] == REFERENCE_MODEL), None)
    reference = summaries.get(reference_name)
    accuracies = {name: [r["accuracy_top1"] for r in succeeded[name]] for name in summaries}
    winner, tied = winners(
        {name: t_interval(values) for name, values in accuracies.items()},
        {name: statistics.fmean(values) for name, values in accuracies.items()},
    )
    rows = []
    for name, runs in by_model.items():
        failures = [r for r in runs if failed(r)]
        if name not in summaries:
            rows.append(failed_row(name, failures))
            continue
        s = summaries[name]
        mean, std, n = s["mean"], s["std"], s["n"]
        first = succeeded[name][0]
        is_control = first["class"] in CONTROL_CLASSES
        speedup = "–"
        if reference is not None and mean["train_time_s"] > 0:
            speedup = f"{reference['mean']['train_time_s'] / mean['train_time_s']:.1f}×"
        memory = f"{mean['training_peak_mib']:.0f} MiB" if "training_peak_mib" in mean else "–"
        memory += f" (RSS {mean['peak_rss_mib']:.0f} MiB)"
        if mean.get("peak_gpu_mib") is not None:
            memory += f" (GPU {mean['peak_gpu_mib']:.0f} MiB)"
        accuracy = _fmt(mean["accuracy_top1"], std["accuracy_top1"], n, 1, 100)
        if name == winner:
            accuracy = f"**{accuracy}**"
        elif name in tied:
            accuracy += " †"
        if name == reference_name:
            difference = "reference"
        elif reference_name is not None:
            difference = _fmt_diff(paired_differences(succeeded[name], succeeded[reference_name]))
        else:
            difference = "–"
        stability = "–"
        if n > 1:
            stability = f"{100 * std['accuracy_top1']:.1f} pt / {std['convergence_epoch']:.1f} ep"
        tuning = [r["tuning"] for r in succeeded[name]]
        busy = sum(bool(r.get("machine", {}).get("busy")) for r in succeeded[name])
        training_time = _fmt_time(mean["train_time_s"]) + (f" ⚠ {busy}/{n} busy" if busy else "")
        rows.append(
            {
                "Model": f"{name} (control)" if is_control else name,
                "Trained by": "ridge (closed form)" if first["fit_method"] == "closed_form" else "gradient (AdamW)",
                "Accuracy top-1 (%)": accuracy,
                f"Δ top-1 vs {REFERENCE_MODEL} (pt, 95 % CI)": difference,
                "Validation top-1 (%)": _fmt(mean.get("val_accuracy"), std.get("val_accuracy"), n, 1, 100),
                "Accuracy top-5 (%)": _fmt(mean["accuracy_top5"], std["accuracy_top5"], n, 1, 100),
                "Training time": training_time,
                "Time per epoch": _fmt_time(mean["time_per_epoch_s"]),
                "Epochs (convergence)": f"{mean['epochs']:.0f} ({mean['convergence_epoch']:.0f})",
                "Std over runs: accuracy / conv. epoch": stability,
                f"Speed-up vs {REFERENCE_MODEL}": speedup,
                "Inference per batch": _fmt_time(mean["inference_time_per_batch_s"]),
                "Trainable params": _fmt_count(mean["trainable_params"]),
                "Total params": _fmt_count(mean["total_params"]),
                "Training memory above baseline (process RSS)": memory,
                "Tuning: candidates (time)": f"{tuning[0]['candidates']} "
                f"({_fmt_time(statistics.fmean(t['time_s'] for t in tuning))})",
                "Runs (n)": str(n) + (f" ({len(failures)} failed: {failures[0]['log']})" if failures else ""),
            }
        )
    return rows


def finished(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The runs that produced results; failed ones are shown apart, never averaged in."""
    return [r for r in runs if not failed(r)]


def failed_row(name: str, failures: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A row for a model none of whose runs finished: marked failed, pointing at the log."""
    row = dict.fromkeys(ROW_COLUMNS, "–")
    row["Model"] = name
    row["Trained by"] = f"**failed**: {failures[0]['error'][:80]} (log: {failures[0]['log']})"
    row["Runs (n)"] = f"0 ({len(failures)} failed)"
    return row


ROW_COLUMNS = (
    "Model",
    "Trained by",
    "Accuracy top-1 (%)",
    f"Δ top-1 vs {REFERENCE_MODEL} (pt, 95 % CI)",
    "Validation top-1 (%)",
    "Accuracy top-5 (%)",
    "Training time",
    "Time per epoch",
    "Epochs (convergence)",
    "Std over runs: accuracy / conv. epoch",
    f"Speed-up vs {REFERENCE_MODEL}",
    "Inference per batch",
    "Trainable params",
    "Total params",
    "Training memory above baseline (process RSS)",
    "Tuning: candidates (time)",
    "Runs (n)",
)


def markdown_table(rows: Sequence[Mapping[str, str]]) -> str:
    header = ROW_COLUMNS
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in rows]
    return "\n".join(lines)


def setup_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    first = runs[0]
    features = first["features"]
    weights = str(features.get("weights", "?"))
    note = " — **not pretrained**: features from a seeded random initialisation" if weights.startswith("random") else ""
    splits = sorted({r["split"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    data = f"data/{features.get('dataset', '?')}"
    return [
        f"- Dataset: `{features.get('dataset', '?')}`, official split(s) {', '.join(map(str, splits))}; "
        f"seeds {', '.join(map(str, seeds))}",
        f"- Clips of split {first['split']}: {first['train_clips'] + first.get('val_clips', 0)} training, "
        f"{first['test_clips']} test; videos missing from disk: "
        f"{features.get('missing_videos', 0)}; clips that failed to decode (skipped, listed in features.h5): "
        f"{features.get('skipped_clips', 0)}; partial clips (fewer frames than declared): "
        f"{features.get('partial_clips', 0)}, {features.get('partial_clips_left_out', 0)} of them left out "
        f"(`frames.on_partial_video: {features.get('on_partial_video', '?')}`); files on disk that no split list names "
        "(ignored): "
        f"{features.get('unlisted_files', 0)}",
        f"- Clip lists: manifest [`{data}/manifest.tsv`](../{data}/manifest.tsv); skipped clips and their reasons "
        f"in [`{data}/features.h5`](../{data}/features.h5) (`skipped_video_ids`, `skipped_reasons`) and in "
        f"`logs/{features.get('dataset', '?')}/decode/`",
        f"- Frames: T = {features.get('frames_per_clip')} per clip, {features.get('frame_size')} px; "
        f"CNN: {features.get('backbone')} ({features.get('layer')}), weights {weights}{note}; "
        f"precision {features.get('precision')}",
        f"- Training device: {', '.join(sorted({r['device'] for r in runs}))} "
        f"({first.get('threads', '?')} threads); torch {first.get('versions', {}).get('torch', '?')}, "
        f"echoes {features.get('echoes_version', '?')}",
    ]


def protocol_lines(by_model: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """How the comparison was made fair: validation, final fit, tuning budget, normalisation."""
    runs = [r for rs in by_model.values() for r in rs]
    training = runs[0].get("training", {})
    val_groups = [len(r["val_groups"]) for r in runs]
    val_share = [r["val_clips"] / (r["val_clips"] + r["train_clips"]) for r in runs]
    budgets = {name: rs[0]["tuning"]["candidates"] for name, rs in by_model.items()}
    grids = {
        name: " × ".join(f"{k} {v}" for k, v in rs[0]["tuning"]["grid"].items()) or "no grid"
        for name, rs in by_model.items()
    }
    compared = {name: n for name, n in budgets.items() if by_model[name][0]["class"] not in CONTROL_CLASSES}
    equal = len(set(compared.values())) <= 1
    chosen = [
        f"{name} " + ", ".join(f"{mode} {k}/{len(rs)}" for mode, k in Counter(r["normalisation"] for r in rs).items())
        for name, rs in by_model.items()
    ]
    return [
        f"- Validation: whole training groups drawn per seed, at least {training.get('min_val_groups', '?')} groups "
        f"and at least {100 * training.get('val_fraction', 0):.0f} % of the training clips "
        f"({min(val_groups)}–{max(val_groups)} groups, {100 * min(val_share):.0f}–{100 * max(val_share):.0f} % of "
        "the clips here; each run's groups are `val_groups` in its metrics.json). The same seed gives every model "
        "the same validation groups.",
        "- Final models: every model, of both families, is fitted on the training clips minus the validation groups "
        "(no refit on training + validation); validation chooses the hyperparameters and, for gradient models, the "
        f"epoch (lowest validation loss, by more than {training.get('min_delta', '?')}; patience "
        f"{training.get('patience', '?')}). Closed-form readouts choose their ridge by GCV on the fit clips. "
        "The test clips choose nothing.",
        "- Tuning budget (candidates, chosen by validation accuracy, ties by the family's own validation loss): "
        + "; ".join(f"{name} {budgets[name]} ({grids[name]})" for name in by_model)
        + (
            "."
            if equal
            else ". **Unequal tuning budgets among the compared models**: the one with more candidates is favoured."
        ),
        "- Input normalisation (the same choices for every model; chosen on validation, per run): " + "; ".join(chosen),
    ]


def group_lines(by_model: Mapping[str, Sequence[Mapping[str, Any]]], top: int = 3) -> list[str]:
    """The test groups on which the compared (non-control) models differ most, with each model's accuracy."""
    compared = {n: rs for n, rs in by_model.items() if rs[0]["class"] not in CONTROL_CLASSES}
    per_group: dict[str, dict[str, float]] = {}
    for name, rs in compared.items():
        groups = sorted({g for r in rs for g in r["accuracy_by_group"]})
        for g in groups:
            values = [r["accuracy_by_group"][g] for r in rs if g in r["accuracy_by_group"]]
            per_group.setdefault(g, {})[name] = statistics.fmean(values)
    spread = sorted(per_group, key=lambda g: (-(max(per_group[g].values()) - min(per_group[g].values())), g))
    return [
        f"- {g} (spread {100 * (max(per_group[g].values()) - min(per_group[g].values())):.1f} pt): "
        + ", ".join(f"{name} {100 * acc:.1f}" for name, acc in per_group[g].items())
        for g in spread[:top]
    ]


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, out: Path, dpi: int) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    _pyplot().close(fig)


def model_colours(names: Sequence[str]) -> dict[str, Any]:
    """One fixed colour per model, the same in every figure (tab10, in display order)."""
    palette = _pyplot().get_cmap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def plot_accuracy_vs_time(
    by_model: Mapping[str, Sequence[Mapping[str, Any]]], out: Path, colours: Mapping[str, Any] | None = None
) -> None:
    """Mean test accuracy against mean training time, with ± std error bars where n > 1."""
    plt = _pyplot()
    colours = colours or model_colours(list(by_model))
    fig, ax = plt.subplots(figsize=(6, 4))
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
    fig.tight_layout()
    _save_png(fig, out, dpi=120)


def mean_and_spread(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Per epoch, the mean and std over the curves that reach it (early stopping ends them at different epochs)."""
    length = max(len(c) for c in curves)
    means, stds = [], []
    for epoch in range(length):
        values = [c[epoch] for c in curves if len(c) > epoch]
        means.append(statistics.fmean(values))
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return means, stds


def plot_learning_curves(
    by_model: Mapping[str, Sequence[Mapping[str, Any]]], out: Path, colours: Mapping[str, Any] | None = None
) -> None:
    """Validation accuracy per epoch of the gradient models: mean over runs, ± std as a band."""
    plt = _pyplot()
    colours = colours or model_colours(list(by_model))
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in by_model.items():
        curves = [[100 * h["val_accuracy"] for h in run["history"] if "val_accuracy" in h] for run in runs]
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
    fig.tight_layout()
    _save_png(fig, out, dpi=120)


def mean_confusion(runs: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """Confusion counts (rows true, columns predicted) averaged over a model's runs."""
    matrices = [r["confusion"] for r in runs if r.get("confusion")]
    size = len(matrices[0]) if matrices else 0
    return [[statistics.fmean(m[i][j] for m in matrices) for j in range(size)] for i in range(size)]


def top_confusions(runs: Sequence[Mapping[str, Any]], classes: Sequence[str], top: int = 3) -> list[str]:
    """The most frequent off-diagonal (true -> predicted) pairs, as text."""
    matrix = mean_confusion(runs)
    pairs = sorted(
        ((matrix[i][j], i, j) for i in range(len(matrix)) for j in range(len(matrix)) if i != j and matrix[i][j] > 0),
        reverse=True,
    )
    return [f"{classes[i]} → {classes[j]} ({count:g})" for count, i, j in pairs[:top]]


def plot_confusions(by_model: Mapping[str, Sequence[Mapping[str, Any]]], out: Path) -> None:
    """Per model, the confusion matrix (mean count over runs) with class names, counts and a colour bar."""
    plt = _pyplot()
    names = list(by_model)
    classes = next((r.get("classes") for runs in by_model.values() for r in runs if r.get("classes")), [])
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        matrix = mean_confusion(by_model[name])
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
        ax.set_title(f"{name} (n={len(by_model[name])})", fontsize=9)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    fig.tight_layout()
    _save_png(fig, out, dpi=110)


def html_table(rows: Sequence[Mapping[str, str]], caption: str) -> str:
    """The comparison table as a standalone HTML page (Snakemake's report shows HTML inline, not Markdown)."""
    import html

    def cell(text: str) -> str:
        escaped = html.escape(text)
        return f"<b>{escaped[2:-2]}</b>" if escaped.startswith("**") and escaped.endswith("**") else escaped

    head = "".join(f"<th>{html.escape(h)}</th>" for h in ROW_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{cell(row[h])}</td>" for h in ROW_COLUMNS) + "</tr>" for row in rows)
    style = (
        "table{border-collapse:collapse;font:13px sans-serif}td,th{border:1px solid #ccc;padding:3px 6px}"
        "th{background:#eee}caption{text-align:left;padding:4px 0}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>\n"
    )


def link_target(path: Path, base: Path) -> Path:
    """``path`` as a Markdown file in ``base`` links it: relative to that folder (``../figures/x.png``)."""
    return Path(os.path.relpath(path, base))


def display_order(loaded: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Controls first, then gradient-trained models, then closed-form ones; by name within each.

    The order depends on the models, not on how the config lists them, so that reordering
    config keys changes nothing in the report.
    """

    def key(name: str) -> tuple:
        first = next((r for r in loaded[name] if not failed(r)), loaded[name][0])
        return (first["class"] not in CONTROL_CLASSES, first.get("fit_method") != "gradient", name)

    return sorted(loaded, key=key)


def render_report(run_paths: Mapping[str, Sequence[Path]], out: Path, figures_dir: Path) -> str:
    """Stage entry point: write ``comparison.md`` (and the table as ``comparison.html``) and its figures."""
    loaded = {name: [read_metrics(Path(p)) for p in paths] for name, paths in run_paths.items()}
    loaded = {name: loaded[name] for name in display_order(loaded)}
    rows = comparison_rows(loaded)
    table = markdown_table(rows)
    by_model = {name: ok for name, runs in loaded.items() if (ok := finished(runs))}
    all_runs = [r for runs in by_model.values() for r in runs]
    if not all_runs:
        raise MetricsFileError(
            "every run failed; see the logs named in "
            + ", ".join(str(p) for paths in run_paths.values() for p in paths)
        )
    figures_dir = Path(figures_dir)
    colours = model_colours(list(loaded))
    plot_accuracy_vs_time(by_model, figures_dir / "accuracy_vs_time.png", colours)
    plot_learning_curves(by_model, figures_dir / "learning_curves.png", colours)
    plot_confusions(by_model, figures_dir / "confusion.png")
    with atomic_path(Path(out).with_suffix(".html")) as tmp:
        caption = "Echoes: measured from the runs' metrics.json; mean ± std over runs (details in comparison.md)"
        tmp.write_text(html_table(rows, caption))
    classes = all_runs[0].get("classes", [])
    confused = [
        f"- {name}: {', '.join(top_confusions(runs, classes)) or 'none'}"
        for name, runs in by_model.items()
        if classes and runs[0].get("confusion")
    ]
    rel = partial(link_target, base=Path(out).parent)
    text = "\n".join(
        [
            "# Echoes: ESN vs LSTM on frozen CNN features",
            "",
            "Measured by the workflow from `results/models/*/runs/*/metrics.json`; mean ± std over runs where n > 1.",
            "",
            table,
            "",
            "Accuracy: test top-1, mean ± sample std over runs; validation top-1 of the selected candidate beside",
            "it (how well the clips that chose it predict test). **Bold** only for a best row whose 95 % t-interval",
            "overlaps no other row's; † marks rows within that noise of the best (a tie, not a win). Δ: accuracy minus",
            f"{REFERENCE_MODEL}'s, paired by split and seed, with a 95 % Student-t interval over the pairs.",
            "Training time: the selected candidate's fit (gradient models: all epochs incl. validation passes;",
            "closed-form models: state harvest + ridge solve); tuning time covers every candidate. Convergence:",
            "first epoch within the tolerance of the best validation accuracy (closed form: 1).",
            "⚠ k/n busy: k of the n runs were timed while the machine's 1-minute load exceeded its cores + 1",
            "(other work competing): their times are not to be trusted (each run's `machine` in metrics.json).",
            "Trainable params: learned from data (an ESN's reservoir is frozen and counts only in Total).",
            "Memory: the peak resident memory of the fit (every tuning candidate) above what the process held",
            "when it began (runtime, libraries, the clips); in brackets the process's whole peak RSS.",
            "Controls: MeanOfFrames averages frame features over time (no order); AllFrames is a ridge readout on",
            "all frames concatenated (order, but no recurrence). Between them lies what recurrence itself buys.",
            "",
            "## Protocol",
            "",
            *protocol_lines(by_model),
            "",
            "## Test groups where the models differ most (top-1 %, mean over runs)",
            "",
            *group_lines(by_model),
            "",
            "## Setup",
            "",
            *setup_lines(all_runs),
            "",
            "## Figures",
            "",
            f"![accuracy vs training time]({rel(figures_dir / 'accuracy_vs_time.png')})",
            "",
            f"![learning curves]({rel(figures_dir / 'learning_curves.png')})",
            "",
            "## Most confused classes (true → predicted, mean count over runs)",
            "",
            *confused,
            "",
            f"![confusion matrices]({rel(figures_dir / 'confusion.png')})",
            "",
        ]
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text


def family(run: Mapping[str, Any]) -> str:
    """How a model is trained, for colours and legends: control, ESN (closed form) or gradient."""
    if run["class"] in CONTROL_CLASSES:
        return "control (ridge)"
    return "ESN (ridge readout)" if run["fit_method"] == "closed_form" else "gradient-trained (LSTM)"


FAMILY_COLOURS = {
    "control (ridge)": "tab:gray",
    "ESN (ridge readout)": "tab:blue",
    "gradient-trained (LSTM)": "tab:orange",
}


def sweep_table(points: Mapping[str, Mapping[str, Any]], loaded: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Markdown: one row per point, its values, accuracy mean ± std, times, parameters, memory."""
    keys = list(next(iter(points.values())))
    header = ["Point", *keys, "Accuracy top-1 (%)", "Training time", "Inference per batch", "Trainable params"]
    header += ["Total params", "Training memory (process RSS)", "Runs (n)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, values in points.items():
        runs = finished(loaded[name])
        if not runs:
            cells = [name, *(str(values[k]) for k in keys), "**failed**", *["–"] * 5, f"0 ({len(loaded[name])} failed)"]
        else:
            s = summarise(runs)
            mean, std, n = s["mean"], s["std"], s["n"]
            cells = [
                name,
                *(str(values[k]) for k in keys),
                _fmt(mean["accuracy_top1"], std["accuracy_top1"], n, 1, 100),
                _fmt_time(mean["train_time_s"]),
                _fmt_time(mean["inference_time_per_batch_s"]),
                _fmt_count(mean["trainable_params"]),
                _fmt_count(mean["total_params"]),
                f"{mean.get('training_peak_mib', float('nan')):.0f} MiB ({mean['peak_rss_mib']:.0f} MiB)",
                str(n),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(sweep: str, points: Mapping[str, Mapping[str, Any]], loaded: Mapping[str, Sequence], out: Path) -> None:
    """Accuracy (mean ± std) and training time along the sweep's points."""
    plt = _pyplot()
    names = [n for n in points if finished(loaded[n])]
    labels = [", ".join(f"{k}={v}" for k, v in points[n].items()) for n in names]
    summaries = [summarise(finished(loaded[n])) for n in names]
    fig, (acc_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 4))
    positions = range(len(names))
    acc_ax.errorbar(
        positions,
        [100 * s["mean"]["accuracy_top1"] for s in summaries],
        yerr=[100 * s["std"]["accuracy_top1"] for s in summaries],
        fmt="o-",
        capsize=3,
    )
    acc_ax.set_ylabel("test accuracy top-1 (%)")
    time_ax.errorbar(
        positions,
        [s["mean"]["train_time_s"] for s in summaries],
        yerr=[s["std"]["train_time_s"] for s in summaries],
        fmt="s-",
        capsize=3,
        color="tab:red",
    )
    time_ax.set_yscale("log")
    time_ax.set_ylabel("training time (s, log scale)")
    for ax in (acc_ax, time_ax):
        ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=7)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"sweep {sweep}: mean ± std over runs")
    fig.tight_layout()
    _save_png(fig, out, dpi=110)


def render_sweep(
    sweep: str,
    points: Mapping[str, Mapping[str, Any]],
    run_paths: Mapping[str, Sequence[Path]],
    out: Path,
    figure: Path,
) -> str:
    """Stage entry point: ``results/sweeps/<sweep>.md`` and its figure, from the points' metrics files."""
    loaded = {name: [read_metrics(Path(p)) for p in run_paths[name]] for name in points}
    if not any(finished(runs) for runs in loaded.values()):
        raise MetricsFileError(f"sweep {sweep}: every run of every point failed; see the logs under logs/train/")
    plot_sweep(sweep, points, loaded, Path(figure))
    first = next(r for runs in loaded.values() for r in finished(runs))
    text = "\n".join(
        [
            f"# Sweep `{sweep}`: {first['class']}",
            "",
            "Measured by the workflow from each point's `metrics.json`; mean ± std over runs (seeds, splits). Every",
            "point is tuned and validated like the models of the main comparison (see comparison.md's Protocol).",
            "",
            sweep_table(points, loaded),
            "",
            f"![sweep {sweep}]({link_target(Path(figure), Path(out).parent)})",
            "",
        ]
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text


def plot_frontier(run_paths: Mapping[str, Sequence[Path]], sweeps: Mapping[str, Sequence[str]], out: Path) -> None:
    """Accuracy against training time and against trainable parameters, every model and sweep point.

    One colour per family; the points of a sweep are joined in order, so each traces its frontier.
    """
    loaded = {name: finished([read_metrics(Path(p)) for p in paths]) for name, paths in run_paths.items()}
    summaries = {name: summarise(runs) for name, runs in loaded.items() if runs}
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, key, label in zip(
        axes, ("train_time_s", "trainable_params"), ("training time (s)", "trainable parameters"), strict=True
    ):
        for sweep, names in sweeps.items():
            names = [n for n in names if n in summaries]
            if names:
                colour = FAMILY_COLOURS[family(loaded[names[0]][0])]
                ax.plot(
                    [summaries[n]["mean"][key] for n in names],
                    [100 * summaries[n]["mean"]["accuracy_top1"] for n in names],
                    "o-",
                    color=colour,
                    alpha=0.8,
                    label=f"sweep {sweep}",
                )
        in_sweeps = {n for names in sweeps.values() for n in names}
        for name, s in summaries.items():
            if name not in in_sweeps:
                colour = FAMILY_COLOURS[family(loaded[name][0])]
                ax.plot(s["mean"][key], 100 * s["mean"]["accuracy_top1"], "*", ms=12, color=colour)
                ax.annotate(name, (s["mean"][key], 100 * s["mean"]["accuracy_top1"]), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(f"{label}, log scale")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy top-1 (%)")
    handles = [plt.Line2D([], [], color=c, marker="o", label=f) for f, c in FAMILY_COLOURS.items()]
    axes[1].legend(handles=handles, fontsize=8, loc="lower right")
    fig.suptitle("accuracy against cost: sweeps (lines) and the main models (stars)")
    fig.tight_layout()
    _save_png(fig, out, dpi=110)
