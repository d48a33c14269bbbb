# Helpers shared by the stage files: config validation, paths, and the code each stage depends on.
import os
import re
import sys
import urllib.parse

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from echoes.planning.codegraph import package_files
from echoes.planning.config import (
    check_config_file,
    check_tracking_environment,
    export_package_root,
    plans_only,
    validate_config,
)
from echoes.data.preflight import clip_summary, preflight
from echoes.devices import available_cores, count_gpus
from echoes.planning.scheduling import claimed_threads, job_uses_gpu, oversubscription
from echoes.planning.sweeps import sweep_points

min_version("9.0")
export_package_root(workflow.basedir)  # before any conda environment is created: envs/echoes.yaml installs from it

for configfile_path in workflow.configfiles:
    check_config_file(configfile_path)
# A real run downloads pretrained CNN weights now (an offline machine fails here, before any job);
# a dry run or lint only says whether they are there.
validate_config(
    config,
    os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"),
    fetch_weights=not plans_only(sys.argv),
)
check_tracking_environment()  # MLFLOW_TRACKING_URI, which overrides tracking.uri

DATASET = config["dataset"]
DATA = f"data/{DATASET}"
# with a manifest (and features) already there: empty splits and refused clips fail now, before any job
preflight(
    DATA,
    config["splits"],
    {k: config["frames"][k] for k in ("on_bad_video", "on_partial_video")},
    config["on_unseen_test_class"],
)
MODELS = sorted(config["models"])
SWEEP_POINTS = sweep_points(config)  # "<sweep>.<param>-<value>..." -> SweepPoint
SWEEPS = sorted(config["sweeps"])
ENTRIES = {**config["models"], **{name: point.entry for name, point in SWEEP_POINTS.items()}}
TRAINED = sorted(ENTRIES)  # every model entry and sweep point: one training job per split and seed
N_SHARDS = config["frames"]["shards"]
THREADS = config["threads"]
# PyTorch jobs hold the `gpu` resource only when they will run on CUDA (a cluster profile sets it
# per rule), and claim their share of --cores when it exceeds this machine's CPUs: a job granted
# `threads` runs threads // cores_per_cpu PyTorch threads (echoes.planning.scheduling). A resource, not a
# param: how many cores a run was given must not rerun its jobs.
GPU = int(job_uses_gpu(config["device"], count_gpus()))


def granted_cores():
    """``--cores``, or None where it is not set (a cluster executor submits each job with its own)."""
    try:
        return workflow.cores
    except WorkflowError:
        return None


CPU_FACTOR = oversubscription(granted_cores(), available_cores())


def training_threads():
    """What a training or predict job declares to run ``threads`` PyTorch threads beside its peers."""
    return claimed_threads(THREADS, CPU_FACTOR)


def alone_threads():
    """What synthesis and feature extraction declare: every granted core, since no job can run beside them."""
    return granted_cores() or THREADS


def code(script):
    """The package files ``workflow/scripts/<script>`` imports, transitively: inputs, so an edit reruns the rule.

    Snakemake sees edits to a rule's script, not to the package it calls; the list is derived from
    the imports (echoes.planning.codegraph), so no module is forgotten. Paths are relative to the working
    directory, so a copied or moved project with its outputs does not rerun; small inputs are
    compared by checksum, so only real edits count.
    """
    files = package_files(os.path.join(workflow.basedir, "workflow", "scripts", script), workflow.basedir)
    return [os.path.relpath(f) for f in files]


def canonical(value):
    """``value`` with every mapping's keys sorted: params that do not change when config keys are reordered."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def dataset_videos():
    """The ``<Class>/<clip>`` folder: pre-staged by the user (used in place), or made by data.smk."""
    if DATASET == "folder":
        return config["folder"]["videos_dir"]
    if DATASET == "ucf101" and config["ucf101"]["videos_dir"]:
        return config["ucf101"]["videos_dir"]
    return f"{DATA}/raw/videos"


def dataset_splits():
    """The folder of UCF101-format split lists: pre-staged, downloaded, synthesized or generated."""
    if DATASET == "folder":
        return config["folder"]["splits_dir"] or f"{DATA}/splits"
    if DATASET == "ucf101" and config["ucf101"]["splits_dir"]:
        return config["ucf101"]["splits_dir"]
    return f"{DATA}/raw/splits"


def ucf101_archive(part):
    """Where the ``videos`` or ``splits`` archive is downloaded to, named as its first URL names it."""
    url = config["ucf101"][f"{part}_urls"][0]
    return f"{DATA}/downloads/{os.path.basename(urllib.parse.urlparse(url).path)}"


def archive_output():
    """A downloaded archive; temporary (deleted after extraction) unless ``ucf101.keep_archives``."""
    archive = f"{DATA}/downloads/{{archive}}"
    return archive if config["ucf101"]["keep_archives"] else temp(archive)


def ucf101_source(wildcards):
    """URLs and pinned checksum of the archive a download job fetches."""
    part = next(p for p in ("videos", "splits") if os.path.basename(ucf101_archive(p)) == wildcards.archive)
    settings = config["ucf101"]
    return {
        "urls": settings[f"{part}_urls"],
        "sha256": settings[f"{part}_sha256"],
        "retries": settings["retries"],
        "verify_tls": settings["verify_tls"],
    }


def frame_shard_output():
    """A decode job's shard; temporary unless ``frames.keep`` (features can then be re-extracted without decoding)."""
    shard = f"{DATA}/frames/shard{{shard}}-of{N_SHARDS}.h5"
    return shard if config["frames"]["keep"] else temp(shard)


def frame_shards():
    return [f"{DATA}/frames/shard{i}-of{N_SHARDS}.h5" for i in range(N_SHARDS)]


def run_dir(model, split, seed):
    return f"results/models/{model}/runs/split{split}-seed{seed}"


def model_runs(model, name="metrics.json"):
    """The file ``name`` of each of the model's runs (every split and seed)."""
    return [f"{run_dir(model, sp, se)}/{name}" for sp in config["splits"] for se in config["seeds"]]


def layered_figure():
    """The report's per-layer figure, declared only where a model has reservoir layers (SimpleESN, DeepESN)."""
    layered = any(entry["class"].rsplit(".", 1)[-1] in ("SimpleESN", "DeepESN") for entry in ENTRIES.values())
    if not layered:
        return {}
    return {"layers": report("results/figures/layers.png", caption="../workflow/report/layers.rst", category="Figures")}


def every_run_output():
    """Every run's metrics.json and model.pt: what ``all`` asks for itself, so that a run whose files are
    gone (a killed ``--force`` rerun deletes them first) is rebuilt even while the report and summaries
    downstream of it still exist."""
    return [
        f"{run_dir(model, sp, se)}/{name}"
        for model in MODELS
        for sp in config["splits"]
        for se in config["seeds"]
        for name in ("metrics.json", "model.pt")
    ]


def tuning_workers(wildcards):
    """With ``tuning.workers`` N > 1: the N tune_model jobs that run this run's study first; else none."""
    workers = config["tuning"]["workers"]
    if workers == 1:
        return []
    run = run_dir(wildcards.model, wildcards.split, wildcards.seed)
    return [f"{run}/tuning/worker{w}.json" for w in range(workers)]


def model_spec(wildcards):
    """One model's config entry: a params function of wildcards only, so Snakemake tracks it per model."""
    entry = ENTRIES[wildcards.model]
    keys = ("class", "params", "tune", "search", "tuning")
    return canonical({key: entry[key] for key in keys if key in entry})


def sweep_point_names(sweep):
    return [name for name, point in SWEEP_POINTS.items() if point.sweep == sweep]


def sweep_spec(wildcards):
    """The points of one sweep, in grid order, with the values each sets: a params function of wildcards only."""
    return [[name, canonical(SWEEP_POINTS[name].values)] for name in sweep_point_names(wildcards.sweep)]


def sweep_outputs():
    """What ``all`` adds when ``sweeps:`` is set: each sweep's table and figure, and the frontier figure."""
    if not SWEEPS:
        return []
    return [f"results/sweeps/{s}.md" for s in SWEEPS] + ["results/figures/frontier.png"]


def predict_run():
    """The run whose model classifies new videos: ``predict.run``, else the first split and seed."""
    return config["predict"]["run"] or f"split{config['splits'][0]}-seed{config['seeds'][0]}"


def prediction_outputs():
    """What ``all`` adds when ``predict.videos_dir`` is set: one table of predictions per model."""
    if not config["predict"]["videos_dir"]:
        return []
    return [f"results/predictions/{m}.tsv" for m in MODELS]
