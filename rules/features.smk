# Feature stage: ResNet18 (avgpool, 512-d) per frame into one HDF5 file.


if DATASET != "precomputed":  # imported features need no CNN (rules/data.smk)

    rule extract_features:
        input:
            shards=frame_shards(),
            manifest=f"{DATA}/manifest.tsv",
            code=code("extract_features.py"),
        output:
            f"{DATA}/features.h5",
        log:
            f"logs/{DATASET}/features.log",
        benchmark:
            f"logs/{DATASET}/features.benchmark.tsv"
        conda:
            "../envs/echoes.yaml"
        threads: alone_threads()
        resources:
            gpu=GPU,
            cores_per_cpu=CPU_FACTOR,
        params:
            features=canonical(config["features"]),
            device=config["device"],
            dataset=DATASET,
        script:
            "../workflow/scripts/extract_features.py"
