"""Snakemake glue: read the split lists into the manifest (echoes.data.ucf101.prepare_manifest)."""

from echoes.data.ucf101 import prepare_manifest
from echoes.files import log_to

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    prepare_manifest(
        smk.input.videos,
        smk.input.splits,
        smk.output[0],
        smk.params.on_missing_video,
        smk.params.groups,
        smk.params.ids,
        # from the config, not params: other splits or policies must not rebuild the manifest
        splits=smk.config["splits"],
        on_unseen=smk.config["on_unseen_test_class"],
    )
