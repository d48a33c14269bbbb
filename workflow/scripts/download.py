"""Snakemake glue: fetch one UCF101 archive, resumable and verified (echoes.data.download)."""

from echoes.data.archives import require_extractor
from echoes.data.download import Transfer, download
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    source = smk.params.source
    require_extractor()  # before gigabytes arrive that nothing here could unpack
    transfer = Transfer(retries=source["retries"], verify_tls=source["verify_tls"])
    download(source["urls"], smk.output[0], source["sha256"], transfer)
