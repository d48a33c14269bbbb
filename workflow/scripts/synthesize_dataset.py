"""Snakemake glue: generate the embedded synthetic dataset (echoes.data.synthetic.generate)."""

from pathlib import Path

from echoes.data.synthetic import SyntheticSpec, generate
from echoes.files import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    generate(Path(snakemake.output.videos).parent, SyntheticSpec(**snakemake.params.spec))  # noqa: F821
