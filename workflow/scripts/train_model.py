"""Snakemake glue: train one model on one split and seed (echoes.training.run_training_job)."""

from pathlib import Path

from echoes.devices import gpu_lease
from echoes.files import log_to
from echoes.tracking import config_hash, git_commit, read_tracking_info
from echoes.training import run_training_job

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]), gpu_lease(smk.params.device):  # one GPU per job, before CUDA starts
    spec = smk.params.model
    run_training_job(
        smk.input.features,
        smk.input.manifest,
        Path(smk.output.metrics).parent,
        name=smk.wildcards.model,
        model_class=spec["class"],
        model_params=spec["params"],
        tune_grid=spec["tune"],
        training=smk.params.training,
        split=int(smk.wildcards.split),
        seed=int(smk.wildcards.seed),
        device=smk.params.device,
        threads=smk.threads,
        tracking=read_tracking_info(smk.input.tracking),
        on_partial_video=smk.params.on_partial_video,
        log_path=smk.log[0],
        tags={
            "echoes.rule": smk.rule,
            "echoes.git_commit": git_commit(Path(smk.scriptdir)),
            "echoes.config_hash": config_hash({"model": spec, "training": smk.params.training}),
        },
    )
