"""Snakemake glue: read the split lists into the manifest (echoes.data.ucf101.prepare_manifest)."""

from echoes.data.preflight import check_splits
from echoes.data.ucf101 import prepare_manifest
from echoes.files import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - injected by Snakemake
    sm = snakemake  # noqa: F821
    manifest = prepare_manifest(
        sm.input.videos, sm.input.splits, sm.output[0], sm.params.on_missing_video, sm.params.groups, sm.params.ids
    )
    print(
        f"{len(manifest.clips)} clips, {len(manifest.classes)} classes, {manifest.missing} missing, "
        f"{manifest.unlisted} unlisted files ignored"
    )
    # the splits and the policy are read from the config, not params: changing them must not rebuild the manifest
    for warning in check_splits(manifest, sm.config["splits"], on_unseen=sm.config["on_unseen_test_class"]):
        print(f"WARNING: {warning}")
