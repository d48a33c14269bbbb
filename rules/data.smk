# Dataset stage: the videos and split lists (synthesized, downloaded and extracted, pre-staged, or
# generated for a user's folder), then the manifest every later stage reads; or, for features the
# user already has, their import as features.h5 and manifest (no decoding, no CNN).


localrules:
    manifest,


if DATASET == "synthetic":

    rule synthesize_dataset:
        input:
            code=code("synthesize_dataset.py"),
        output:
            videos=directory(f"{DATA}/raw/videos"),
            splits=directory(f"{DATA}/raw/splits"),
        log:
            f"logs/{DATASET}/synthesize.log",
        benchmark:
            f"logs/{DATASET}/synthesize.benchmark.tsv"
        conda:
            "../envs/echoes.yaml"
        threads: alone_threads()
        params:
            spec=canonical(config["synthetic"]),
        script:
            "../workflow/scripts/synthesize_dataset.py"


if DATASET == "ucf101":

    wildcard_constraints:
        archive="|".join(re.escape(os.path.basename(ucf101_archive(p))) for p in ("videos", "splits")),
        part="videos|splits",

    rule download_ucf101:
        output:
            archive_output(),
        log:
            f"logs/{DATASET}/download_{{archive}}.log",
        benchmark:
            f"logs/{DATASET}/download_{{archive}}.benchmark.tsv"
        retries: 0
        conda:
            "../envs/echoes.yaml"
        params:
            source=ucf101_source,
        script:
            "../workflow/scripts/download.py"

    rule extract_ucf101:
        input:
            archive=lambda wildcards: ucf101_archive(wildcards.part),
            code=code("extract_archive.py"),
        output:
            directory(f"{DATA}/raw/{{part}}"),
        log:
            f"logs/{DATASET}/extract_{{part}}.log",
        benchmark:
            f"logs/{DATASET}/extract_{{part}}.benchmark.tsv"
        conda:
            "../envs/echoes.yaml"
        params:
            inner=lambda wildcards: {"videos": "UCF-101", "splits": "ucfTrainTestlist"}[wildcards.part],
        script:
            "../workflow/scripts/extract_archive.py"


if DATASET == "folder" and not config["folder"]["splits_dir"]:

    rule folder_splits:
        input:
            videos=dataset_videos(),
            code=code("folder_splits.py"),
        output:
            directory(dataset_splits()),
        log:
            f"logs/{DATASET}/splits.log",
        conda:
            "../envs/echoes.yaml"
        params:
            test_fraction=config["folder"]["test_fraction"],
            seed=config["folder"]["seed"],
        script:
            "../workflow/scripts/folder_splits.py"


if DATASET != "precomputed":

    rule manifest:
        input:
            videos=dataset_videos(),
            splits=dataset_splits(),
            code=code("manifest.py"),
        output:
            f"{DATA}/manifest.tsv",
        log:
            f"logs/{DATASET}/manifest.log",
        conda:
            "../envs/echoes.yaml"
        params:
            on_missing_video=config["on_missing_video"],
            # a user's folders may lack gNN names or reuse clip names across classes
            groups="auto" if DATASET == "folder" else "ucf101",
            ids="path" if DATASET == "folder" else "stem",
        script:
            "../workflow/scripts/manifest.py"


if DATASET == "precomputed":

    rule import_features:
        input:
            features=config["precomputed"]["path"],
            code=code("import_features.py"),
        output:
            features=f"{DATA}/features.h5",
            manifest=f"{DATA}/manifest.tsv",
        log:
            f"logs/{DATASET}/import_features.log",
        conda:
            "../envs/echoes.yaml"
        params:
            splits_dir=config["precomputed"]["splits_dir"],
        script:
            "../workflow/scripts/import_features.py"
