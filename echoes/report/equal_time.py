"""The report's second view, equal tuning time (``tuning.seconds``): what each model reaches when its
trials may take as long as an LSTM's, beside the headline's equal number of trials."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from echoes.report.stats import REFERENCE_MODEL, Runs, paired_differences, reference_name
from echoes.report.tables import fmt_diff, fmt_time, headline_seconds, mean_std

HINT = (
    "Every model had the same number of trials (above). Set `tuning.seconds` to also give every model the "
    "same tuning time and see what each reaches within it (docs/protocol.md)."
)


def within(run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return run["tuning"].get("within_seconds")


def equal_time_lines(by_model: Mapping[str, Runs]) -> list[str]:
    """Per model given ``tuning.seconds``: how many trials fitted in that time and the best of them (by
    validation) on test, overall and per task family; beside them the gradient-trained models' headline,
    whose trials are the time an LSTM takes; each with its paired difference to the reference model."""
    timed = {name: [w for r in runs if (w := within(r))] for name, runs in by_model.items()}
    if not any(timed.values()):
        return [HINT]
    seconds = sorted({w["seconds"] for ws in timed.values() for w in ws})
    families = list(dict.fromkeys(f for ws in timed.values() for w in ws for f in w.get("accuracy_by_family") or {}))
    reference = by_model.get(reference_name(by_model) or "", [])
    lines = [
        f"Beside the headline's equal trials, some models tuned on until their trials had taken {join_times(seconds)} "
        "(each trial's fit and validation), about the time an LSTM's trials take; the best trial finished within "
        "that time, chosen on validation as the headline's is, scored on test (%, mean ± std over runs). The "
        "LSTMs' rows are their headline: their trials are that time. Δ: test top-1 minus "
        f"{REFERENCE_MODEL}'s (its best within the time if it had one, else its headline), paired by split and "
        "seed, 95 % t-interval.",
        "",
        "| Model | Headline's trials took | Trials within the time | Validation top-1 | Test top-1 | "
        + " | ".join(f"{f} | Δ {f}" for f in families)
        + " |",
        "|---|---|---|---|---|" + "---|---|" * len(families),
    ]
    for name, runs in by_model.items():
        if timed[name]:
            scored = [w for w in timed[name] if w["accuracy_top1"] is not None]
            trials = f"{statistics.fmean(w['trials'] for w in timed[name]):.1f}"
        elif runs and runs[0].get("fit_method") == "gradient":
            scored = [headline(r) for r in runs]
            trials = f"{runs[0]['tuning']['candidates']} (the headline's)"
        else:
            continue
        cells = [
            fmt_time(statistics.fmean(headline_seconds(r) for r in runs)),
            trials,
            *(mean_std([100 * w[k] for w in scored]) if scored else "none finished"
              for k in ("val_accuracy", "accuracy_top1")),
        ]  # fmt: skip
        for family in families:
            cells += [family_cell(scored, family), difference(runs, reference, family, runs is reference)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    untimed = [name for name, runs in by_model.items() if not timed[name] and runs[0].get("fit_method") != "gradient"]
    return lines + (["", f"Equal trials only (no `tuning.seconds` for them): {', '.join(untimed)}."] if untimed else [])


def headline(run: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's headline scores in the shape of its equal-time record."""
    return {k: run.get(k) for k in ("val_accuracy", "accuracy_top1", "accuracy_by_family")}


def equal_time_view(run: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a run reached in the equal-time view: its best within the time, or else its headline."""
    return within(run) or headline(run)


def join_times(seconds: Sequence[float]) -> str:
    return " or ".join(fmt_time(s) for s in seconds)


def family_cell(scored: Sequence[Mapping[str, Any]], family: str) -> str:
    scores = [100 * w["accuracy_by_family"][family] for w in scored if family in (w.get("accuracy_by_family") or {})]
    return mean_std(scores) if scores else "–"


def difference(runs: Runs, reference: Runs, family: str, is_reference: bool) -> str:
    if is_reference or not reference:
        return "reference" if is_reference else "–"

    def score(run: Mapping[str, Any]) -> float | None:
        return (equal_time_view(run).get("accuracy_by_family") or {}).get(family)

    return fmt_diff(paired_differences(runs, reference, score))
