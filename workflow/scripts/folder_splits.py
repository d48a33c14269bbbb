"""Snakemake glue: write a seeded, group-aware split for a folder of videos (echoes.data.folder)."""

from echoes.data.folder import generate_splits
from echoes.files import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    sm = snakemake  # noqa: F821
    scan = generate_splits(sm.input.videos, sm.output[0], sm.params.test_fraction, sm.params.seed)
    print(f"{len(scan.classes)} classes, {len(scan.clips)} clips, {len(scan.ignored)} non-video entries ignored")
