"""``results/comparison.md``: the comparison table, its protocol, setup and figures, from the runs' metrics only."""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from echoes.contracts.metrics import MetricsFileError, failed, read_metrics
from echoes.files import atomic_path
from echoes.report.equal_time import equal_time_lines
from echoes.report.families import family_lines
from echoes.report.figures import (
    layer_means,
    model_colours,
    plot_accuracy_vs_time,
    plot_confusions,
    plot_layers,
    plot_learning_curves,
    plot_tuning_curves,
)
from echoes.report.setup import setup_lines
from echoes.report.stats import REFERENCE_MODEL, finished, is_control, mean_confusion
from echoes.report.tables import (
    DETAIL_COLUMNS,
    comparison_rows,
    headline_columns,
    html_page,
    html_table,
    markdown_table,
    task_families,
)
from echoes.training.space import describe

ByModel = Mapping[str, Sequence[Mapping[str, Any]]]


def protocol_lines(by_model: ByModel) -> list[str]:
    """How the comparison was made fair: validation, final fit, tuning budget, normalisation."""
    runs = [r for rs in by_model.values() for r in rs]
    training = runs[0].get("training", {})
    val_groups = [len(r["val_groups"]) for r in runs]
    val_share = [r["val_clips"] / (r["val_clips"] + r["train_clips"]) for r in runs]
    budgets = {name: rs[0]["tuning"]["candidates"] for name, rs in by_model.items()}
    spaces = {name: f"{rs[0]['tuning']['sampler']}: {describe(rs[0]['tuning']['space']) or 'nothing tuned'}"
              for name, rs in by_model.items()}  # fmt: skip
    refit = bool(training.get("refit"))
    compared = {name: n for name, n in budgets.items() if not is_control(by_model[name][0])}
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
        "- Final models: validation chooses the hyperparameters and, for gradient models, the epoch (lowest "
        f"validation loss, by more than {training.get('min_delta', '?')}; patience {training.get('patience', '?')}); "
        + (
            "then the selected trial is **refitted on training + validation clips** (gradient models for the kept "
            "number of epochs; ridge readouts with their ridge by GCV again) and that model is tested."
            if refit
            else "every model, of both families, is tested as fitted on the training clips minus the validation "
            "groups (no refit on training + validation)."
        )
        + " Closed-form readouts with `ridge: auto` choose it by GCV on the fit clips. The test clips choose nothing.",
        "- Tuning budget (trials, one Optuna study per run seeded by its seed, chosen by validation accuracy, ties by "
        "the model kind's own validation loss): "
        + "; ".join(f"{name} {budgets[name]} ({spaces[name]})" for name in by_model)
        + (
            "."
            if equal
            else ". **Unequal tuning budgets among the compared models**: the one with more trials is favoured."
        ),
        "- Input normalisation (the same choices for every model; chosen on validation, per run): " + "; ".join(chosen),
        *ridge_edge_lines(by_model),
    ]


def layer_lines(by_model: ByModel) -> list[str]:
    """Per ESN and layer: test top-1 of a readout on that layer alone and on layers 1..l, memory
    capacity, effective spectral radius (each run's ``layers``, averaged)."""
    lines = [
        "A ridge readout (GCV) on each reservoir's last and mean states alone, and on layers 1..l, scored on the test "
        "clips; the linear memory capacity (delays 1-200 recalled from i.i.d. input, held-out r², summed) and the "
        "spectral radius of the leaky update (1-a)I + aW (`layers` in metrics.json). For a model of several draws "
        "(`ensemble_size`), its first draw's reservoirs.",
        "",
        "| Model | Layer | Top-1 alone (%) | Top-1 layers 1..l (%) | Memory capacity | Effective spectral radius |",
        "|---|---|---|---|---|---|",
    ]
    rows = [
        f"| {name} | {layer + 1} | {100 * means['accuracy'][layer]:.1f} | {100 * means['accuracy_up_to'][layer]:.1f} "
        f"| {fmt_optional(means['memory_capacity'][layer], '.1f')} "
        f"| {fmt_optional(means['effective_spectral_radius'][layer], '.3f')} |"
        for name, runs in by_model.items()
        if any(run.get("layers") for run in runs)
        for means in [layer_means(runs)]
        for layer in range(len(means["accuracy"]))
    ]
    return lines + rows


def fmt_optional(value: float | None, spec: str) -> str:
    """A diagnostic that could not be computed in any run (``None``) shows as "–"."""
    return "–" if value is None else format(value, spec)


def ridge_edge_lines(by_model: ByModel) -> list[str]:
    """Closed-form readouts whose GCV ridge stayed at an end of its grid, even widened (the fit's log says so too)."""
    at_edge = {
        name: edges
        for name, runs in by_model.items()
        if (edges := [e for r in runs if (e := r.get("fit_info", {}).get("ridge_at_grid_edge"))])
    }
    if not at_edge:
        return []
    counts = "; ".join(f"{name} {len(edges)}/{len(by_model[name])} ({', '.join(sorted(set(edges)))} end)"
                       for name, edges in at_edge.items())  # fmt: skip
    return [f"- **Ridge at the end of its GCV grid**, even widened (the score still falling there): {counts}."]


def group_lines(by_model: ByModel, top: int = 3) -> list[str]:
    """The test groups on which the compared (non-control) models differ most, with each model's accuracy."""
    compared = {n: rs for n, rs in by_model.items() if not is_control(rs[0])}
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


def top_confusions(runs: Sequence[Mapping[str, Any]], classes: Sequence[str], top: int = 3) -> list[str]:
    """The most frequent off-diagonal (true -> predicted) pairs, as text."""
    matrix = mean_confusion(runs)
    pairs = sorted(
        ((matrix[i][j], i, j) for i in range(len(matrix)) for j in range(len(matrix)) if i != j and matrix[i][j] > 0),
        reverse=True,
    )
    return [f"{classes[i]} → {classes[j]} ({count:.3g})" for count, i, j in pairs[:top]]


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
        return (not is_control(first), first.get("fit_method") != "gradient", name)

    return sorted(loaded, key=key)


LEGEND = f"""Accuracy: test top-1, mean ± sample std over runs (per task family beside it, where the dataset has
them); the selected candidate's validation top-1 is in the details (how well the clips that chose it
predict test). Kind: the model's kind and its fit (ridge: closed form; AdamW: gradient descent with
early stopping). **Bold** only for a best row whose 95 % t-interval
overlaps no other row's; † marks rows within that noise of the best (a tie, not a win). Δ: accuracy minus
{REFERENCE_MODEL}'s, paired by split and seed, with a 95 % Student-t interval over the pairs.
Training time: the selected candidate's fit (gradient models: all epochs incl. validation passes;
closed-form models: state harvest + ridge solve); tuning time: the headline's trials, each one's fit and
validation (the equal-time view's further trials are in their own section). Convergence:
first epoch within the tolerance of the best validation accuracy (closed form: 1). Drop reversed /
shuffled: the test accuracy lost when every clip's frames are reversed / shuffled (seeded), in points:
0 means the model does not use the order of the frames (MeanOfFrames, by construction).
⚠ k/n busy: k of the n runs were timed while other work competed (the 1-minute load above the cores + 1,
or other processes using over half a core meanwhile): their times are not to be trusted (`machine` in
each run's metrics.json).
Trainable params: learned from data (an ESN's reservoir is frozen and counts only in Total).
Memory: the peak resident memory of the fit (every tuning candidate) above what the process held
when it began (runtime, libraries, the clips); in brackets the process's whole peak RSS.
Controls: MeanOfFrames averages frame features over time (no order); AllFrames is a ridge readout on
all frames concatenated (order, but no recurrence). Between them lies what recurrence itself buys.""".splitlines()
FIGURES = {
    "accuracy_vs_time": "accuracy vs training time",
    "learning_curves": "learning curves",
    "tuning_curves": "what tuning buys: best validation accuracy so far vs tuning time",
    "layers": "what each reservoir adds: accuracy, memory capacity and effective spectral radius by layer",
}


def render_report(
    run_paths: Mapping[str, Sequence[Path]], out: Path, figures_dir: Path, layers: bool | None = None
) -> str:
    """Stage entry point: write ``comparison.md`` (and the tables as ``comparison.html``) and its figures;
    ``layers.png`` where ``layers`` says (default: where a run has reservoir layers)."""
    loaded = {name: [read_metrics(Path(p)) for p in paths] for name, paths in run_paths.items()}
    loaded = {name: loaded[name] for name in display_order(loaded)}
    headline = [c.header for c in headline_columns(task_families(loaded))]
    details = [c.header for c in DETAIL_COLUMNS]
    rows = comparison_rows(loaded)
    by_model = {name: ok for name, runs in loaded.items() if (ok := finished(runs))}
    if not by_model:
        every = ", ".join(str(p) for paths in run_paths.values() for p in paths)
        raise MetricsFileError(f"every run failed; see the logs named in {every}")
    figures_dir = Path(figures_dir)
    colours = model_colours(list(loaded))
    plot_accuracy_vs_time(by_model, figures_dir / "accuracy_vs_time.png", colours)
    plot_learning_curves(by_model, figures_dir / "learning_curves.png", colours)
    plot_tuning_curves(by_model, figures_dir / "tuning_curves.png", colours)
    if layers if layers is not None else any(run.get("layers") for runs in by_model.values() for run in runs):
        plot_layers(by_model, figures_dir / "layers.png", colours)
    plot_confusions(by_model, figures_dir / "confusion.png")
    with atomic_path(Path(out).with_suffix(".html")) as tmp:
        caption = "Echoes: measured from the runs' metrics.json; mean ± std over runs (the legend is in comparison.md)"
        tmp.write_text(html_page([html_table(rows, headline, caption), html_table(rows, details, "Details")]))
    tables = (markdown_table(rows, headline), markdown_table(rows, details))
    text = "\n".join(report_lines(tables, by_model, partial(link_target, base=Path(out).parent), figures_dir))
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return text


def report_lines(tables: tuple[str, str], by_model: ByModel, rel: Any, figures_dir: Path) -> list[str]:
    """``comparison.md``, line by line: headline and legend, details, protocol, groups, setup, figures, confusions."""
    all_runs = [r for runs in by_model.values() for r in runs]
    classes = all_runs[0].get("classes", [])
    confused = [
        f"- {name}: {', '.join(top_confusions(runs, classes)) or 'none'}"
        for name, runs in by_model.items()
        if classes and runs[0].get("confusion")
    ]
    layered = any(run.get("layers") for run in all_runs)
    shown = [key for key in FIGURES if key != "layers" or layered]  # layers.png is blank without an ESN
    figures = [line for key in shown for line in (f"![{FIGURES[key]}]({rel(figures_dir / f'{key}.png')})", "")]
    return [
        "# Echoes: ESN vs LSTM on frozen CNN features",
        "",
        "Measured by the workflow from `results/models/*/runs/*/metrics.json`; mean ± std over runs where n > 1.",
        "",
        tables[0],
        "",
        *LEGEND,
        "",
        *section("Details", [tables[1]]),
        *section("Protocol", protocol_lines(by_model)),
        *(section("Accuracy per task family", family) if (family := family_lines(by_model)) else []),
        *section("Equal tuning time", equal_time_lines(by_model)),
        *(section("What each reservoir adds (ESNs, mean over runs)", layer_lines(by_model)) if layered else []),
        *section("Test groups where the models differ most (top-1 %, mean over runs)", group_lines(by_model)),
        *section("Setup", setup_lines(all_runs)),
        *section("Figures", figures[:-1]),
        *section("Most confused classes (true → predicted, mean count over runs)", confused),
        f"![confusion matrices]({rel(figures_dir / 'confusion.png')})",
        "",
    ]


def section(title: str, lines: Sequence[str]) -> list[str]:
    return [f"## {title}", "", *lines, ""]
