"""Snakemake glue: one worker of a study's trials (echoes.stages.train.tune_worker_job)."""

from echoes.devices import gpu_lease
from echoes.files import log_to
from echoes.planning.scheduling import torch_threads
from echoes.stages.train import tune_worker_job
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
    tune_worker_job(smk.input.features, smk.input.manifest, smk.output[0], spec, smk.params.on_partial_video)
