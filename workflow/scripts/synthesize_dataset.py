"""Snakemake glue: generate the embedded synthetic dataset (echoes.data.synthetic.generate)."""

from echoes.data.synthetic import SyntheticSpec, generate
from echoes.utils import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    generate(snakemake.output[0], SyntheticSpec(**snakemake.params.spec))  # noqa: F821
