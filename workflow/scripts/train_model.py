"""Snakemake glue: train one model on one split and seed (echoes.stages.train.run_training_job)."""

from pathlib import Path

from echoes.devices import gpu_lease
from echoes.files import log_to
from echoes.planning.scheduling import torch_threads
from echoes.stages.train import run_training_job
from echoes.training.spec import RunSpec

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]), gpu_lease(smk.params.device):  # one GPU per job, before CUDA starts
    spec = RunSpec.from_config(
        smk.wildcards.model,
        smk.params.model,
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
        log_path=smk.log[0],
        on_partial_video=smk.params.on_partial_video,
    )
