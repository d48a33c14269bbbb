# Report stage: results/comparison.md and its figures, from the runs' metrics files only.


localrules:
    report,


rule report:
    input:
        summaries=expand("results/models/{model}/metrics.json", model=MODELS),
        runs=[path for model in MODELS for path in model_runs(model)],
        code=code("report.py"),
    output:
        report="results/comparison.md",
        accuracy_vs_time="results/figures/accuracy_vs_time.png",
        learning_curves="results/figures/learning_curves.png",
    params:
        runs={model: model_runs(model) for model in MODELS},
    log:
        "logs/report.log",
    script:
        "../workflow/scripts/report.py"
