"""Snakemake glue: create the MLflow database and experiment once, before any training job."""

from pathlib import Path

from echoes.tracking import experiment_name, init_experiment, resolve_tracking_uri
from echoes.utils import log_to, write_json

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    uri = resolve_tracking_uri(smk.params.uri)
    info = init_experiment(uri, experiment_name(smk.params.dataset), Path("results/mlruns"))
    print(info)
    write_json(smk.output[0], info)
