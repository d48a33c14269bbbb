"""Snakemake glue: read the split lists into the manifest (echoes.data.ucf101.prepare_manifest)."""

from echoes.data.ucf101 import SPLITS, prepare_manifest
from echoes.utils import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    manifest = prepare_manifest(snakemake.params.videos, snakemake.params.splits, snakemake.output[0], SPLITS)  # noqa: F821
    print(f"{len(manifest.clips)} clips, {len(manifest.classes)} classes, {manifest.missing} missing")
