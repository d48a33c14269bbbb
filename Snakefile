# Echoes: Echo State Networks vs LSTMs on frozen per-frame CNN features of action videos.
#   snakemake --cores 8 --resources gpu=1        # the whole comparison -> results/comparison.md
# Stages: rules/data.smk -> frames.smk -> features.smk -> train.smk -> report.smk


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    model="|".join(re.escape(m) for m in TRAINED),
    sweep="|".join(SWEEPS) or "(?!)",
    split=r"[123]",
    seed=r"\d+",
    shard=r"\d+",
    worker=r"\d+",


include: "rules/data.smk"
include: "rules/frames.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/sweeps.smk"
include: "rules/predict.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        "results/comparison.md",
        expand("results/models/{model}/metrics.json", model=MODELS),
        f"{DATA}/features.h5",  # asked for itself: a killed forced re-extraction leaves no hole behind
        every_run_output(),
        expand("results/models/{model}/mlflow.json", model=TRAINED),  # every run (sweep points too) in MLflow
        sweep_outputs(),
        prediction_outputs(),


onsuccess:
    print(clip_summary(DATA))


onerror:
    print(clip_summary(DATA))
