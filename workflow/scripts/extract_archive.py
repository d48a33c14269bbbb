"""Snakemake glue: unpack an archive with bsdtar or unar (echoes.data.archives.extract)."""

from echoes.data.archives import extract
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    tool = extract(smk.input.archive, smk.output[0], smk.params.inner)
    print(f"extracted {smk.input.archive} with {tool}")
