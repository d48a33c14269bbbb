"""Snakemake glue: train one model on one split and seed (echoes.training.job.run_training_job)."""

from pathlib import Path

from echoes.devices import gpu_lease
from echoes.files import log_to
from echoes.scheduling import torch_threads
from echoes.tracking.experiment import config_hash, git_commit, read_tracking_info
from echoes.training.job import run_training_job
from echoes.training.spec import RunSpec

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]), gpu_lease(smk.params.device):  # one GPU per job, before CUDA starts
    entry = smk.params.model
    spec = RunSpec.from_config(
        smk.wildcards.model,
        entry,
        smk.params.training,
        smk.params.tuning,
        split=int(smk.wildcards.split),
        seed=int(smk.wildcards.seed),
        device=smk.params.device,
        threads=torch_threads(smk.threads, smk.resources.cores_per_cpu),
    )
    run_training_job(
        smk.input.features,
        smk.input.manifest,
        Path(smk.output.metrics).parent,
        spec,
        tracking=read_tracking_info(smk.input.tracking),
        on_partial_video=smk.params.on_partial_video,
        log_path=smk.log[0],
        tags={
            "echoes.rule": smk.rule,
            "echoes.git_commit": git_commit(Path(smk.scriptdir)),
            "echoes.config_hash": config_hash(
                {"model": entry, "training": smk.params.training, "tuning": smk.params.tuning}
            ),
        },
    )
