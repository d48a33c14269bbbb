"""Snakemake glue: ResNet18 features of every decoded frame (echoes.features.extract_features)."""

from echoes.devices import gpu_lease
from echoes.features import extract_features
from echoes.files import log_to
from echoes.planning.scheduling import torch_threads

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]), gpu_lease(smk.params.device):  # one GPU per job, before CUDA starts
    info = extract_features(
        smk.input.shards,
        smk.input.manifest,
        smk.output[0],
        **smk.params.features,
        device=smk.params.device,
        threads=torch_threads(smk.threads, smk.resources.cores_per_cpu),
        dataset=smk.params.dataset,
        # from the config, not params: other splits or policies must not re-extract
        splits=smk.config["splits"],
        on_bad_video=smk.config["frames"]["on_bad_video"],
        on_partial_video=smk.config["frames"]["on_partial_video"],
    )
    print(info)
