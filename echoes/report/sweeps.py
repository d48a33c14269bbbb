"""A sweep's page: ``results/sweeps/<sweep>.md``, one row per point, and its figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from echoes.contracts.metrics import MetricsFileError, read_metrics
from echoes.files import atomic_path
from echoes.report.comparison import layer_lines, link_target
from echoes.report.figures import figure
from echoes.report.stats import finished, summarise
from echoes.report.tables import fmt, fmt_count, fmt_time


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
                fmt(mean["accuracy_top1"], std["accuracy_top1"], n, 1, 100),
                fmt_time(mean["train_time_s"]),
                fmt_time(mean["inference_time_per_batch_s"]),
                fmt_count(mean["trainable_params"]),
                fmt_count(mean["total_params"]),
                f"{mean.get('training_peak_mib', float('nan')):.0f} MiB ({mean['peak_rss_mib']:.0f} MiB)",
                str(n),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(sweep: str, points: Mapping[str, Mapping[str, Any]], loaded: Mapping[str, Sequence], out: Path) -> None:
    """Accuracy (mean ± std) and training time along the sweep's points."""
    names = [n for n in points if finished(loaded[n])]
    labels = [", ".join(f"{k}={v}" for k, v in points[n].items()) for n in names]
    summaries = [summarise(finished(loaded[n])) for n in names]
    with figure(out, figsize=(10, 4), ncols=2) as (fig, (acc_ax, time_ax)):
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


def layer_section(by_point: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """For ESN points (a depth sweep above all): what each reservoir adds, point by point."""
    if not any(run.get("layers") for runs in by_point.values() for run in runs):
        return []
    return ["## What each reservoir adds (mean over runs)", "", *layer_lines(by_point), ""]


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
            *layer_section({name: finished(runs) for name, runs in loaded.items()}),
        ]
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text
