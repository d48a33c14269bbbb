# Helpers shared by the rule files: config validation, paths, and the code each stage depends on.
import os

from snakemake.utils import min_version

from echoes.config import validate_config

min_version("9.0")

validate_config(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))

DATASET = config["dataset"]
DATA = f"data/{DATASET}"
MODELS = list(config["models"])
N_SHARDS = config["frames"]["shards"]
THREADS = config["threads"]


def code(*modules):
    """Package files a rule's logic lives in: inputs, so an edit to them reruns the rule.

    Snakemake sees edits to a rule's script, not to the package it calls; small inputs are
    compared by checksum, so only real edits count.
    """
    return [os.path.join(workflow.basedir, "echoes", m) for m in modules]


def dataset_root():
    """The folder that holds ``videos/<Class>/<clip>`` and ``splits/`` (UCF101 formats)."""
    return f"{DATA}/raw"


def dataset_videos():
    return os.path.join(dataset_root(), "videos")


def dataset_splits():
    return os.path.join(dataset_root(), "splits")


def frame_shards():
    return [f"{DATA}/frames/shard{i}-of{N_SHARDS}.h5" for i in range(N_SHARDS)]


def run_dir(model, split, seed):
    return f"results/models/{model}/runs/split{split}-seed{seed}"


def model_runs(model):
    return [f"{run_dir(model, sp, se)}/metrics.json" for sp in config["splits"] for se in config["seeds"]]


def model_spec(wildcards):
    """One model's config entry: a params function of wildcards only, so Snakemake tracks it per model."""
    entry = config["models"][wildcards.model]
    return {"class": entry["class"], "params": entry.get("params", {})}
