"""The report's accuracy per task family (the embedded synthetic set's): test and validation top-1, and
each model's paired difference to the reference model on every task family."""

from __future__ import annotations

import statistics
from collections.abc import Mapping

from echoes.report.stats import REFERENCE_MODEL, Runs, paired_differences, reference_name
from echoes.report.tables import fmt_diff, mean_std


def family_lines(by_model: Mapping[str, Runs]) -> list[str]:
    """Test (and validation) top-1 per task family of the synthetic set, and each model's paired
    difference to the reference model on that family; nothing for real data."""
    families = list(
        dict.fromkeys(f for runs in by_model.values() for r in runs for f in r.get("accuracy_by_family", {}))
    )
    if not families:
        return []
    reference_model = reference_name(by_model)
    reference = by_model.get(reference_model, [])
    lines = [
        "Each task family of the embedded dataset separately (docs/datasets.md): `order` needs the frames' order "
        "(a linear filter over them suffices), `same_different` memory and a nonlinearity. Test top-1 (%), mean ± "
        f"std over runs; the selected trial's validation top-1 in brackets; then Δ: the test top-1 minus "
        f"{REFERENCE_MODEL}'s on that family, paired by split and seed, with its 95 % t-interval (pt)."
        + family_sizes(by_model, families),
        "",
        "| Model | " + " | ".join(f"{f} | Δ {f}" for f in families) + " |",
        "|---|" + "---|---|" * len(families),
    ]
    for name, runs in by_model.items():
        cells = []
        for family in families:
            cells += [family_cell(runs, family), family_difference(runs, reference, family, name == reference_model)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + other_family_lines(by_model, families)


def other_family_lines(by_model: Mapping[str, Runs], families: list[str]) -> list[str]:
    """Per family, how much of each model's test clips of it went to another family's class
    (``read_as_other_family``): the errors that missed what kind of clip it was, not the family's own
    decision. Nothing where no run recorded it (older metrics files)."""
    lines = []
    for family in families:
        shares = {name: family_values(runs, "read_as_other_family", family) for name, runs in by_model.items()}
        cells = [f"{name} {100 * statistics.fmean(values):.1f}" for name, values in shares.items() if values]
        if cells:
            lines.append(f"- {family}: {', '.join(cells)}")
    if not lines:
        return []
    return [
        "",
        "Test clips of a family predicted as another family's class (% of the family's test clips, mean over runs); "
        "the rest of a family's errors are its own classes confused with each other:",
        "",
        *lines,
    ]


def family_values(runs: Runs, key: str, family: str) -> list[float]:
    """Each run's ``key[family]``, from the runs that recorded it (older metrics files lack some keys)."""
    return [r[key][family] for r in runs if family in (r.get(key) or {})]


def family_cell(runs: Runs, family: str) -> str:
    test = [100 * v for v in family_values(runs, "accuracy_by_family", family)]
    val = [100 * v for v in family_values(runs, "val_accuracy_by_family", family)]
    return (mean_std(test) if test else "–") + (f" ({statistics.fmean(val):.1f})" if val else "")


def family_difference(runs: Runs, reference: Runs, family: str, is_reference: bool) -> str:
    if is_reference or not reference:
        return "reference" if is_reference else "–"
    return fmt_diff(paired_differences(runs, reference, lambda r: r.get("accuracy_by_family", {}).get(family)))


def family_sizes(by_model: Mapping[str, Runs], families: list[str]) -> str:
    """The sentence naming each family's test clips per run (``test_clips_by_family``) and how many points
    one clip is: how coarse each family's accuracy is (a range where splits differ); "" if none recorded it."""
    recorded = [r.get("test_clips_by_family") or {} for runs in by_model.values() for r in runs]
    parts = []
    for family in families:
        sizes = sorted({counts[family] for counts in recorded if counts.get(family)})
        if sizes:  # "48", or "45-48" where splits differ; dict.fromkeys drops a repeated end
            clips = "-".join(dict.fromkeys(str(n) for n in (sizes[0], sizes[-1])))
            points = "-".join(dict.fromkeys(f"{100 / n:.1f}" for n in (sizes[-1], sizes[0])))
            parts.append(f"{family} {clips} (one clip is {points} pt)")
    return f" Test clips per run: {', '.join(parts)}." if parts else ""
