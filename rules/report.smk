# Report stage: results/comparison.md and its figures, from the runs' metrics files only.


localrules:
    report,


rule report:
    input:
        runs=[path for model in MODELS for path in model_runs(model)],
        code=code("report.py"),
    output:
        **layered_figure(),
        report="results/comparison.md",
        table=report(
            "results/comparison.html",
            caption="../workflow/report/comparison.rst",
            category="Comparison",
        ),
        accuracy_vs_time=report(
            "results/figures/accuracy_vs_time.png",
            caption="../workflow/report/accuracy_vs_time.rst",
            category="Figures",
        ),
        learning_curves=report(
            "results/figures/learning_curves.png",
            caption="../workflow/report/learning_curves.rst",
            category="Figures",
        ),
        tuning_curves=report(
            "results/figures/tuning_curves.png",
            caption="../workflow/report/tuning_curves.rst",
            category="Figures",
        ),
        # only where a reservoir stack runs: a figure of empty axes has no place in the --report bundle
        confusion=report(
            "results/figures/confusion.png",
            caption="../workflow/report/confusion.rst",
            category="Figures",
        ),
    log:
        "logs/report.log",
    conda:
        "../envs/echoes.yaml"
    params:
        runs={model: model_runs(model) for model in MODELS},
    script:
        "../workflow/scripts/report.py"
