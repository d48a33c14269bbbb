"""Snakemake glue: classify a folder of new videos with one model's run (echoes.predict.predict_folder)."""

from pathlib import Path

from echoes.devices import gpu_lease
from echoes.files import log_to
from echoes.planning.scheduling import torch_threads
from echoes.predict import predict_folder

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]), gpu_lease(smk.params.device):  # one GPU per job, before CUDA starts
    problems = predict_folder(
        Path(smk.input.videos),
        Path(smk.input.bundle).parent,
        Path(smk.output[0]),
        smk.params.device,
        torch_threads(smk.threads, smk.resources.cores_per_cpu),
    )
    for problem in problems:
        print(f"not classified: {problem}")
