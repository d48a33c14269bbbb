# Predict stage (only with `predict.videos_dir` in config): each model classifies a folder of new videos.


if config["predict"]["videos_dir"]:

    rule predict:
        input:
            bundle=f"results/models/{{model}}/runs/{predict_run()}/model.pt",
            videos=config["predict"]["videos_dir"],
            code=code("predict.py"),
        output:
            "results/predictions/{model}.tsv",
        log:
            "logs/predict/{model}.log",
        conda:
            "../envs/echoes.yaml"
        threads: training_threads()
        resources:
            gpu=GPU,
            cores_per_cpu=CPU_FACTOR,
        params:
            device=config["device"],
        script:
            "../workflow/scripts/predict.py"
