"""Snakemake glue: a features file of the user's own as features.h5 and manifest (echoes.data.precomputed)."""

from echoes.data.precomputed import import_precomputed
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    summary = import_precomputed(smk.input.features, smk.params.splits_dir, smk.output.features, smk.output.manifest)
    print(f"imported {summary}")
