# Training stage: one job per (model, split, seed); then per model a summary and one job that logs its runs to MLflow.
# With tuning.workers N > 1, N tune_model jobs first run each study's trials together (its storage shared).


localrules:
    aggregate_model,
    track_model,


rule tune_model:
    input:
        features=f"{DATA}/features.h5",
        manifest=f"{DATA}/manifest.tsv",
        code=code("tune_model.py"),
    output:
        "results/models/{model}/runs/split{split}-seed{seed}/tuning/worker{worker}.json",
    log:
        "logs/train/{model}/split{split}-seed{seed}.worker{worker}.log",
    benchmark:
        "logs/train/{model}/split{split}-seed{seed}.worker{worker}.benchmark.tsv"
    conda:
        "../envs/echoes.yaml"
    threads: training_threads()
    resources:
        gpu=GPU,
        cores_per_cpu=CPU_FACTOR,
    params:
        model=model_spec,
        training=canonical(config["training"]),
        tuning=canonical(config["tuning"]),
        device=config["device"],
        on_partial_video=config["frames"]["on_partial_video"],
    script:
        "../workflow/scripts/tune_model.py"


rule train_model:
    input:
        features=f"{DATA}/features.h5",
        manifest=f"{DATA}/manifest.tsv",
        workers=tuning_workers,
        code=code("train_model.py"),
    output:
        metrics="results/models/{model}/runs/split{split}-seed{seed}/metrics.json",
        weights="results/models/{model}/runs/split{split}-seed{seed}/model.pt",
    log:
        "logs/train/{model}/split{split}-seed{seed}.log",
    benchmark:
        "logs/train/{model}/split{split}-seed{seed}.benchmark.tsv"
    conda:
        "../envs/echoes.yaml"
    threads: training_threads()
    resources:
        gpu=GPU,
        cores_per_cpu=CPU_FACTOR,
    params:
        model=model_spec,
        training=canonical(config["training"]),
        tuning=canonical(config["tuning"]),
        device=config["device"],
        on_partial_video=config["frames"]["on_partial_video"],
    script:
        "../workflow/scripts/train_model.py"


rule aggregate_model:
    input:
        runs=lambda wildcards: model_runs(wildcards.model),
        code=code("aggregate_model.py"),
    output:
        "results/models/{model}/metrics.json",
    log:
        "logs/train/{model}/aggregate.log",
    conda:
        "../envs/echoes.yaml"
    script:
        "../workflow/scripts/aggregate_model.py"


rule track_model:
    input:
        runs=lambda wildcards: model_runs(wildcards.model),
        weights=lambda wildcards: model_runs(wildcards.model, "model.pt"),
        features=f"{DATA}/features.h5",
        code=code("track_model.py"),
    output:
        "results/models/{model}/mlflow.json",
    log:
        "logs/train/{model}/track.log",
    benchmark:
        "logs/train/{model}/track.benchmark.tsv"
    conda:
        "../envs/echoes.yaml"
    # a CPU of its own, as a training job's: never beside training jobs that fill the CPUs, whose
    # times it would perturb (it starts the moment a model's runs are done, while others train)
    threads: training_threads()
    resources:
        cores_per_cpu=CPU_FACTOR,
    params:
        uri=config["tracking"]["uri"],
        dataset=DATASET,
        artifact_root="results/mlruns",
        settings=lambda wildcards: {
            "model": model_spec(wildcards),
            "training": canonical(config["training"]),
            "tuning": canonical(config["tuning"]),
        },
        trained_by="train_model",
    script:
        "../workflow/scripts/track_model.py"
