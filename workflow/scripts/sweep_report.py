"""Snakemake glue: one sweep's table and figure (echoes.report.sweeps.render_sweep)."""

from echoes.files import log_to
from echoes.report.sweeps import render_sweep

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    points = dict(smk.params.points)  # [name, values] pairs in grid order
    render_sweep(smk.wildcards.sweep, points, smk.params.runs, smk.output.table, smk.output.figure)
