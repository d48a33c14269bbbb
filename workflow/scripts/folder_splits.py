"""Snakemake glue: write a seeded, group-aware split for a folder of videos (echoes.data.folder)."""

from echoes.data.folder import generate_splits
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    scan = generate_splits(smk.input.videos, smk.output[0], smk.params.test_fraction, smk.params.seed)
    print(f"{len(scan.classes)} classes, {len(scan.clips)} clips, {len(scan.ignored)} non-video entries ignored")
