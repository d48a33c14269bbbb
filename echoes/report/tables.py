"""The comparison tables: a headline of what a reader compares first (at most 9 columns) and the
details below it, from one set of column specs that make both the Markdown and the HTML tables.

Columns of a single metric are headed and formatted as :data:`METRIC_COLUMNS` says (the report's
words, not the metrics contract's); the other columns combine several fields (accuracy with its
winner mark, the paired difference, memory, ...).
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from echoes.contracts.metrics import failed
from echoes.report.stats import (
    REFERENCE_MODEL,
    finished,
    is_control,
    paired_differences,
    reference_name,
    summarise,
    t_interval,
    winners,
)


def fmt(mean: float | None, std: float | None, n: int, digits: int = 2, scale: float = 1.0) -> str:
    if mean is None:
        return "–"
    text = f"{mean * scale:.{digits}f}"
    return f"{text} ± {std * scale:.{digits}f}" if n > 1 else text


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_count(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else f"{n:.0f}"


def fmt_diff(differences: Sequence[float]) -> str:
    """Mean paired difference in points with its 95 % t-interval, e.g. ``+12.5 [+3.1, +21.9] (n=3)``."""
    if not differences:
        return "–"
    mean = 100 * statistics.fmean(differences)
    interval = t_interval(differences)
    if interval is None:
        return f"{mean:+.1f} (n=1, no interval)"
    return f"{mean:+.1f} [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}] (n={len(differences)})"


@dataclass
class Row:
    """What one model's cells are made of: its finished runs, their summary, and the table's verdicts."""

    name: str
    runs: list[Mapping[str, Any]]
    failures: list[Mapping[str, Any]]
    summary: dict
    reference: str | None  # the reference model's name, if it ran
    reference_runs: list[Mapping[str, Any]]
    winner: str | None
    tied: set

    @property
    def mean(self) -> dict:
        return self.summary["mean"]

    @property
    def std(self) -> dict:
        return self.summary["std"]

    @property
    def n(self) -> int:
        return self.summary["n"]


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row], str]


UNIT_FORMATS: dict[str, Callable[[Row, str], str]] = {
    "percent": lambda row, key: fmt(row.mean.get(key), row.std.get(key), row.n, 1, 100),
    "points": lambda row, key: fmt(row.mean.get(key), row.std.get(key), row.n, 1, 100),
    "time": lambda row, key: fmt_time(row.mean[key]) if key in row.mean else "–",
    "count": lambda row, key: fmt_count(row.mean[key]) if key in row.mean else "–",
    "": lambda row, key: fmt(row.mean.get(key), row.std.get(key), row.n),
}


#: Metrics shown as a column of their own: key -> (header, how the number reads).
METRIC_COLUMNS = {
    "accuracy_top5": ("Accuracy top-5 (%)", "percent"),
    "order_drop_reversed": ("Drop reversed (pt)", "points"),
    "order_drop_shuffled": ("Drop shuffled (pt)", "points"),
    "val_accuracy": ("Validation top-1 (%)", "percent"),
    "time_per_epoch_s": ("Time per epoch", "time"),
    "inference_time_per_batch_s": ("Inference per batch", "time"),
    "trainable_params": ("Trainable params", "count"),
    "total_params": ("Total params", "count"),
}


def metric_columns(*keys: str) -> list[Column]:
    """Columns of single metrics, headed and formatted as :data:`METRIC_COLUMNS` says."""
    return [Column(METRIC_COLUMNS[k][0], lambda row, k=k: UNIT_FORMATS[METRIC_COLUMNS[k][1]](row, k)) for k in keys]


def accuracy_cell(row: Row) -> str:
    accuracy = fmt(row.mean["accuracy_top1"], row.std["accuracy_top1"], row.n, 1, 100)
    return f"**{accuracy}**" if row.name == row.winner else accuracy + (" †" if row.name in row.tied else "")


def difference_cell(row: Row) -> str:
    if row.name == row.reference:
        return "reference"
    return fmt_diff(paired_differences(row.runs, row.reference_runs)) if row.reference else "–"


def training_time_cell(row: Row) -> str:
    busy = sum(bool(r.get("machine", {}).get("busy")) for r in row.runs)
    return fmt_time(row.mean["train_time_s"]) + (f" ⚠ {busy}/{row.n} busy" if busy else "")


def speedup_cell(row: Row) -> str:
    if not row.reference_runs or row.mean["train_time_s"] <= 0:
        return "–"
    return f"{summarise(row.reference_runs)['mean']['train_time_s'] / row.mean['train_time_s']:.1f}×"


def memory_cell(row: Row) -> str:
    memory = f"{row.mean['training_peak_mib']:.0f} MiB" if "training_peak_mib" in row.mean else "–"
    memory += f" (RSS {row.mean['peak_rss_mib']:.0f} MiB)"
    if row.mean.get("peak_gpu_mib") is not None:
        memory += f" (GPU {row.mean['peak_gpu_mib']:.0f} MiB)"
    return memory


def headline_seconds(run: Mapping[str, Any]) -> float:
    """Seconds the headline's trials took: each one's fit and validation, as ``tuning.seconds`` counts them
    (trials beyond them, of the equal-time view, are not the headline's)."""
    tuning = run["tuning"]
    return sum(t["seconds"] for t in tuning["trials"][: tuning["candidates"]])


def tuning_cell(row: Row) -> str:
    """``4 TPE trials (12 s)``: how many trials the headline's selection chose from, how, and in what time."""
    tuning = [r["tuning"] for r in row.runs]
    how = {"grid": "grid points", "tpe": "TPE trials", "random": "random trials"}.get(tuning[0]["sampler"], "trials")
    return f"{tuning[0]['candidates']} {how} ({fmt_time(statistics.fmean(headline_seconds(r) for r in row.runs))})"


def runs_cell(row: Row) -> str:
    return str(row.n) + (f" ({len(row.failures)} failed: {row.failures[0]['log']})" if row.failures else "")


def family_accuracy_column(family: str) -> Column:
    """Test top-1 on one task family of the dataset (mean ± std over runs)."""

    def cell(row: Row) -> str:
        values = [r["accuracy_by_family"][family] for r in row.runs if family in r.get("accuracy_by_family", {})]
        return mean_std([100 * v for v in values]) if values else "–"

    return Column(f"{family} (%)", cell)


def model_cell(row: Row) -> str:
    return f"{row.name} (control)" if is_control(row.runs[0]) else row.name


def kind_cell(row: Row) -> str:
    """The model's kind and how it is trained: ``ESN (ridge)``, ``LSTM (AdamW)``."""
    return f"{row.runs[0].get('kind', '?')} ({'ridge' if row.runs[0]['fit_method'] == 'closed_form' else 'AdamW'})"


def headline_columns(families: list[str]) -> tuple[Column, ...]:
    """What a reader compares first (at most 9 columns): accuracy and its difference to the reference,
    each task family's accuracy, training time and trainable parameters."""
    return (
        Column("Model", model_cell),
        Column("Kind (fit)", kind_cell),
        Column("Accuracy top-1 (%)", accuracy_cell),
        Column(f"Δ top-1 vs {REFERENCE_MODEL} (pt, 95 % CI)", difference_cell),
        *(family_accuracy_column(family) for family in families[:2]),
        Column("Training time", training_time_cell),
        *metric_columns("trainable_params"),
        Column("Runs (n)", runs_cell),
    )


#: Everything else measured, below the headline: no figure of a run is left out of the report.
DETAIL_COLUMNS = (
    Column("Model", model_cell),
    *metric_columns("val_accuracy", "accuracy_top5", "order_drop_reversed", "order_drop_shuffled"),
    *metric_columns("time_per_epoch_s"),
    Column("Epochs (convergence)", lambda row: f"{row.mean['epochs']:.0f} ({row.mean['convergence_epoch']:.0f})"),
    Column(
        "Std over runs: accuracy / conv. epoch",
        lambda row: (
            f"{100 * row.std['accuracy_top1']:.1f} pt / {row.std['convergence_epoch']:.1f} ep" if row.n > 1 else "–"
        ),
    ),
    Column(f"Speed-up vs {REFERENCE_MODEL}", speedup_cell),
    *metric_columns("inference_time_per_batch_s", "total_params"),
    Column("Training memory above baseline (process RSS)", memory_cell),
    Column("Tuning: trials (time)", tuning_cell),
)


def task_families(by_model: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The task families the runs were scored on, in the order met (none for real datasets)."""
    return list(
        dict.fromkeys(f for runs in by_model.values() for r in finished(runs) for f in r.get("accuracy_by_family", {}))
    )


def comparison_rows(
    by_model: Mapping[str, Sequence[Mapping[str, Any]]], columns: Sequence[Column] | None = None
) -> list[dict[str, str]]:
    """One row of display strings per model, in the order given, for ``columns`` (default: the headline's
    and the details' together); difference and speed-up are against the reference model's entry."""
    columns = columns or (*headline_columns(task_families(by_model)), *DETAIL_COLUMNS[1:])
    succeeded = {name: finished(runs) for name, runs in by_model.items()}
    summaries = {name: summarise(runs) for name, runs in succeeded.items() if runs}
    reference = reference_name(succeeded)
    accuracies = {name: [r["accuracy_top1"] for r in succeeded[name]] for name in summaries}
    winner, tied = winners(
        {name: t_interval(values) for name, values in accuracies.items()},
        {name: statistics.fmean(values) for name, values in accuracies.items()},
    )
    rows = []
    for name, runs in by_model.items():
        failures = [r for r in runs if failed(r)]
        if name not in summaries:
            rows.append(failed_row(name, failures, [c.header for c in columns]))
            continue
        row = Row(
            name, succeeded[name], failures, summaries[name], reference, succeeded.get(reference, []), winner, tied
        )
        rows.append({column.header: column.cell(row) for column in columns})
    return rows


def failed_row(name: str, failures: Sequence[Mapping[str, Any]], headers: Sequence[str]) -> dict[str, str]:
    """A row for a model none of whose runs finished: marked failed, pointing at the log."""
    row = dict.fromkeys(headers, "–")
    row["Model"] = f"{name}: **failed**: {failures[0]['error'][:80]} (log: {failures[0]['log']})"
    row["Runs (n)"] = f"0 ({len(failures)} failed)"
    return row


def markdown_table(rows: Sequence[Mapping[str, str]], headers: Sequence[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row.get(h, "–") for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def html_table(rows: Sequence[Mapping[str, str]], headers: Sequence[str], caption: str) -> str:
    """One table as HTML (Snakemake's report shows HTML inline, not Markdown)."""

    def cell(text: str) -> str:
        escaped = html.escape(text)
        return f"<b>{escaped[2:-2]}</b>" if escaped.startswith("**") and escaped.endswith("**") else escaped

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(h, '–'))}</td>" for h in headers) + "</tr>" for row in rows)
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def html_page(tables: Sequence[str]) -> str:
    """Standalone HTML page of tables, readable at 1280 px: the headline fits, the details scroll in their box."""
    style = (
        "body{font:13px sans-serif;margin:12px}table{border-collapse:collapse;margin-bottom:18px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#eee}"
        "caption{text-align:left;padding:4px 0;font-weight:bold}.scroll{overflow-x:auto;max-width:100%}"
    )
    boxes = "".join(f"<div class='scroll'>{table}</div>" for table in tables)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{boxes}</body></html>\n"
    )


def mean_std(values: Sequence[float]) -> str:
    return fmt(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values), 1)
