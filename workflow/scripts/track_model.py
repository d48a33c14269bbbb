"""Snakemake glue: log one model's finished runs to MLflow (echoes.stages.track.track_model_job)."""

from pathlib import Path

from echoes.files import log_to
from echoes.stages.track import track_model_job

smk = snakemake  # noqa: F821 - injected by Snakemake
with log_to(smk.log[0]):
    track_model_job(
        [Path(p).parent for p in smk.input.runs],
        smk.input.features,
        smk.output[0],
        uri=smk.params.uri,
        dataset=smk.params.dataset,
        artifact_root=Path(smk.params.artifact_root),
        settings=smk.params.settings,
        trained_by=smk.params.trained_by,
        source_dir=smk.scriptdir,
    )
