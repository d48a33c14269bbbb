"""Snakemake glue: create the MLflow database and experiment once, before any training job."""

from pathlib import Path

from echoes.files import log_to
from echoes.tracking.experiment import experiment_name, init_experiment, resolve_tracking_uri, write_tracking_info

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    uri = resolve_tracking_uri(smk.params.uri)
    info = init_experiment(uri, experiment_name(smk.params.dataset), Path("results/mlruns"))
    info["configured_uri"] = smk.params.uri
    print(info)
    write_tracking_info(smk.output[0], info)
