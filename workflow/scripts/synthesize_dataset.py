"""Snakemake glue: generate the embedded synthetic dataset (echoes.data.synthetic.generate)."""

from pathlib import Path

from echoes.data.synthetic import SyntheticSpec, generate
from echoes.devices import available_cores
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    workers = min(smk.threads, available_cores())
    generate(Path(smk.output.videos).parent, SyntheticSpec(**smk.params.spec), workers=workers)
