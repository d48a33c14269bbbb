"""Snakemake glue: decode one shard of the manifest (echoes.video.decode_shard)."""

from echoes.files import log_to
from echoes.video import decode_shard

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    frames = smk.params.frames
    result = decode_shard(
        smk.input.manifest,
        smk.input.videos,
        smk.output[0],
        shard=int(smk.wildcards.shard),
        shards=frames["shards"],
        per_clip=frames["per_clip"],
        size=frames["size"],
    )
    print(f"decoded {len(result.video_ids)} clips ({len(result.partial)} partial), {len(result.failed)} did not decode")
