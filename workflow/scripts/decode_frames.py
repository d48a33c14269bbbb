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
        on_bad_video=frames["on_bad_video"],
    )
    print(f"decoded {len(result.video_ids)} clips, skipped {len(result.failed)}")
    for video_id, reason in result.failed:
        print(f"skipped {video_id}: {reason}")
