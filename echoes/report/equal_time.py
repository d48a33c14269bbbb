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
    """Per model: the headline trials' time; with ``tuning.seconds``, how many trials fitted in that time
    and the best of them (by validation) on test, overall and per task family, with its paired
    difference to the reference model's best within the same time."""
    timed = {name: [w for r in runs if (w := within(r))] for name, runs in by_model.items()}
    if not any(timed.values()):
        return [HINT]
    seconds = sorted({w["seconds"] for ws in timed.values() for w in ws})
    families = list(dict.fromkeys(f for ws in timed.values() for w in ws for f in w.get("accuracy_by_family") or {}))
    reference_model = reference_name(by_model)
    reference = [r for r in by_model.get(reference_model, []) if within(r)]
    untimed = [name for name, ws in timed.items() if not ws]
    lines = [
        f"Beside the headline's equal trials, models tuned on until their trials had taken {join_times(seconds)} "
        "(each trial's fit and validation, the time an LSTM's trials take); the best trial finished within that "
        "time, chosen on validation as the headline's is, scored on test (%, mean ± std over runs). Δ: its "
        f"test top-1 minus {REFERENCE_MODEL}'s best within the same time, paired by split and seed, 95 % t-interval.",
        "",
        "| Model | Headline's trials took | Trials within the time | Validation top-1 | Test top-1 | "
        + " | ".join(f"{f} | Δ {f}" for f in families)
        + " |",
        "|---|---|---|---|---|" + "---|---|" * len(families),
    ]
    for name, runs in by_model.items():
        if not timed[name]:
            continue
        reached = [w for w in timed[name] if w["accuracy_top1"] is not None]
        cells = [
            fmt_time(statistics.fmean(headline_seconds(r) for r in runs)),
            f"{statistics.fmean(w['trials'] for w in timed[name]):.1f}",
            *(mean_std([100 * w[k] for w in reached]) if reached else "none finished"
              for k in ("val_accuracy", "accuracy_top1")),
        ]  # fmt: skip
        for family in families:
            cells += [family_cell(reached, family), difference(runs, reference, family, name == reference_model)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if untimed:
        lines += ["", f"Equal trials only (their entries set `tuning: {{seconds: null}}`): {', '.join(untimed)}."]
    return lines


def join_times(seconds: Sequence[float]) -> str:
    return " or ".join(fmt_time(s) for s in seconds)


def family_cell(reached: Sequence[Mapping[str, Any]], family: str) -> str:
    scores = [100 * w["accuracy_by_family"][family] for w in reached if family in (w.get("accuracy_by_family") or {})]
    return mean_std(scores) if scores else "–"


def difference(runs: Runs, reference: Runs, family: str, is_reference: bool) -> str:
    if is_reference or not reference:
        return "reference" if is_reference else "–"

    def score(run: Mapping[str, Any]) -> float | None:
        return ((within(run) or {}).get("accuracy_by_family") or {}).get(family)

    return fmt_diff(paired_differences(runs, reference, score))
