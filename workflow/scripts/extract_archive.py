"""Snakemake glue: unpack an archive with bsdtar or unar (echoes.data.archives.extract)."""

from echoes.data.archives import extract
from echoes.files import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    tool = extract(snakemake.input.archive, snakemake.output[0], snakemake.params.inner)  # noqa: F821
    print(f"extracted {snakemake.input.archive} with {tool}")  # noqa: F821
