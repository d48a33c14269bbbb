# Decode stage: T frames per clip with PyAV, as parallel jobs over shards of the manifest.


rule decode_frames:
    input:
        manifest=f"{DATA}/manifest.tsv",
        videos=dataset_videos(),
        code=code("decode_frames.py"),
    output:
        frame_shard_output(),
    log:
        f"logs/{DATASET}/decode/shard{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/decode/shard{{shard}}.benchmark.tsv"
    conda:
        "../envs/echoes.yaml"
    threads: 1
    params:
        # what decoding depends on; the clip policies act downstream and never rerun decoding
        frames=canonical({k: config["frames"][k] for k in ("per_clip", "size", "shards")}),
    script:
        "../workflow/scripts/decode_frames.py"
