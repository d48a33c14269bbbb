"""Snakemake glue: decode one shard of the manifest (echoes.video.decode_shard)."""

from echoes.utils import log_to
from echoes.video import decode_shard

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    result = decode_shard(
        smk.input.manifest,
        smk.input.videos,
        smk.output[0],
        shard=int(smk.wildcards.shard),
        n_shards=smk.params.n_shards,
        t=smk.params.frames["per_clip"],
        size=smk.params.frames["size"],
        on_bad_video=smk.params.frames["on_bad_video"],
    )
    print(f"decoded {len(result.video_ids)} clips, skipped {len(result.failed)}")
    for video_id, reason in result.failed:
        print(f"skipped {video_id}: {reason}")
