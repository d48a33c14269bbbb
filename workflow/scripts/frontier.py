"""Snakemake glue: accuracy against cost for every model and sweep point (echoes.report.figures.plot_frontier)."""

from echoes.files import log_to
from echoes.report.figures import plot_frontier

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    plot_frontier(smk.params.runs, smk.params.sweeps, smk.output[0])
