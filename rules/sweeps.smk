# Sweep stage (only with `sweeps:` in config): one table and figure per sweep, and the frontier figure.


localrules:
    sweep_report,
    frontier,


rule sweep_report:
    input:
        runs=lambda wildcards: [path for name in sweep_point_names(wildcards.sweep) for path in model_runs(name)],
        code=code("sweep_report.py"),
    output:
        table="results/sweeps/{sweep}.md",
        figure=report(
            "results/figures/sweep_{sweep}.png",
            caption="../workflow/report/sweep.rst",
            category="Sweeps",
            subcategory="{sweep}",
        ),
    log:
        "logs/sweeps/{sweep}.log",
    conda:
        "../envs/echoes.yaml"
    params:
        points=sweep_spec,
        runs=lambda wildcards: {name: model_runs(name) for name in sweep_point_names(wildcards.sweep)},
    script:
        "../workflow/scripts/sweep_report.py"


rule frontier:
    input:
        runs=[path for name in TRAINED for path in model_runs(name)],
        code=code("frontier.py"),
    output:
        report(
            "results/figures/frontier.png",
            caption="../workflow/report/frontier.rst",
            category="Sweeps",
        ),
    log:
        "logs/sweeps/frontier.log",
    conda:
        "../envs/echoes.yaml"
    params:
        runs={name: model_runs(name) for name in TRAINED},
        sweeps={sweep: sweep_point_names(sweep) for sweep in SWEEPS},
    script:
        "../workflow/scripts/frontier.py"
