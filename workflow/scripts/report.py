"""Snakemake glue: render results/comparison.md and its figures (echoes.report.comparison.render_report)."""

from pathlib import Path

from echoes.files import log_to
from echoes.report.comparison import render_report

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    render_report(
        smk.params.runs,
        smk.output.report,
        Path(smk.output.accuracy_vs_time).parent,
        layers=hasattr(smk.output, "layers"),  # declared only where a model has reservoir layers
    )
