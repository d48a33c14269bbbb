# Dataset stage: the embedded synthetic set (UCF101 layout), then the manifest every stage reads.


localrules:
    manifest,


rule synthesize_dataset:
    output:
        directory("data/synthetic/raw"),
    params:
        spec=config["synthetic"],
    log:
        "logs/synthetic/synthesize.log",
    benchmark:
        "logs/synthetic/synthesize.benchmark.tsv"
    script:
        "../workflow/scripts/synthesize_dataset.py"


rule manifest:
    input:
        dataset=dataset_root(),
        code=code("data/ucf101.py"),
    output:
        f"{DATA}/manifest.tsv",
    params:
        videos=dataset_videos(),
        splits=dataset_splits(),
    log:
        f"logs/{DATASET}/manifest.log",
    script:
        "../workflow/scripts/manifest.py"
