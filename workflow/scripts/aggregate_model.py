"""Snakemake glue: one model's runs summarised as mean ± std (echoes.report.stats.aggregate_model)."""

from echoes.files import log_to
from echoes.report.stats import aggregate_model

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    aggregate_model(list(smk.input.runs), smk.output[0])
